import { loadConfig } from "@secprof/daemon-kit";
import { describe, expect, it } from "vitest";
import { InstallerConfig } from "./config.js";

describe("installer configuration (environment)", () => {
  it("cluster mode: needs NODE_NAME; defaults match the DaemonSet", () => {
    expect(() => loadConfig(InstallerConfig, {})).toThrow(/NODE_NAME: required in cluster mode/);
    expect(loadConfig(InstallerConfig, { NODE_NAME: "n1" })).toMatchObject({
      SECPROF_MODE: "cluster",
      SECPROF_HOST_ROOT: "/",
      SECPROF_SECCOMP_LAYOUT: "namespaced",
      SECPROF_KUBELET_DIR: "var/lib/kubelet",
      SECPROF_METRICS_PORT: 9104,
    });
  });

  it("single-host mode: exactly one source; the merger needs a token and an approval store", () => {
    const sh = { SECPROF_MODE: "single-host" };
    expect(() => loadConfig(InstallerConfig, sh)).toThrow(
      /exactly one of SECPROF_PROFILE_DIR or SECPROF_MERGER_URL/,
    );
    expect(() =>
      loadConfig(InstallerConfig, { ...sh, SECPROF_PROFILE_DIR: "/p", SECPROF_MERGER_URL: "http://m:8080" }),
    ).toThrow(/exactly one/);
    expect(() => loadConfig(InstallerConfig, { ...sh, SECPROF_MERGER_URL: "http://m:8080" })).toThrow(
      /SECPROF_API_TOKEN: required with SECPROF_MERGER_URL[\s\S]*SECPROF_APPROVAL_STORE/,
    );
    expect(() =>
      loadConfig(InstallerConfig, { ...sh, SECPROF_MERGER_URL: "http://m:8080", SECPROF_API_TOKEN: "short" }),
    ).toThrow(/at least 16/);
    expect(loadConfig(InstallerConfig, { ...sh, SECPROF_PROFILE_DIR: "/p" }).SECPROF_PROFILE_DIR).toBe("/p");
    expect(() =>
      loadConfig(InstallerConfig, { ...sh, SECPROF_PROFILE_DIR: "/p", SECPROF_SECCOMP_LAYOUT: "flat" }),
    ).toThrow(/SECPROF_SECCOMP_LAYOUT/);
  });
});
