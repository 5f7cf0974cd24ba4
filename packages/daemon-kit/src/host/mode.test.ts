import { describe, expect, it } from "vitest";
import { hostMode } from "./mode.js";

describe("hostMode", () => {
  it("is on with a recordings directory and no Kubernetes API, off without the directory", () => {
    expect(hostMode({ SECPROF_RECORDINGS_DIR: "/r" })).toBe(true);
    expect(hostMode({ SECPROF_RECORDINGS_DIR: "" })).toBe(false);
    expect(hostMode({ KUBECONFIG: "/k" })).toBe(false);
    expect(hostMode({})).toBe(false);
  });

  it("refuses a recordings directory together with a kubeconfig or an in-cluster API", () => {
    expect(() => hostMode({ SECPROF_RECORDINGS_DIR: "/r", KUBECONFIG: "/k" })).toThrow(/both set/);
    expect(() => hostMode({ SECPROF_RECORDINGS_DIR: "/r", KUBERNETES_SERVICE_HOST: "10.0.0.1" })).toThrow(
      /both set/,
    );
  });
});
