import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { approvalDigestInput, type ProfileObject } from "@secprof/core";
import { createBundleApiHandler } from "@secprof/merger";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HostWriter } from "../host-writer.js";
import { AppArmorKernel, SelinuxKernel } from "../kernel.js";
import { LocalApprovalStore } from "../local-approvals.js";
import { LocalInstallState } from "../local-state.js";
import { profileDigest } from "../render.js";
import { noUsage } from "../usage.js";
import { mergerProfiles, singleHostPass } from "./single-host.js";

/** Single-host mode fed by the merger's real bundle API handler (token-protected) over HTTP. */

const TOKEN = "t0ken-for-the-installer-test";
let base: string;
let server: Server;
let url: string;
let profiles: ProfileObject[];
let writer: HostWriter;

function seccomp(name: string, names = ["read", "write"]): ProfileObject {
  return {
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "SeccompProfile",
    metadata: { name },
    spec: {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names, action: "SCMP_ACT_ALLOW" }],
    },
  };
}

beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), "secprof-single-host-"));
  profiles = [seccomp("web-app"), seccomp("web-db", ["read"])];
  const handler = createBundleApiHandler({
    token: TOKEN,
    source: {
      listRecordings: async () => [
        {
          namespace: "shop",
          name: "web",
          kind: "SeccompProfile",
          status: "Complete",
          profiles: [],
          bundle: false,
        },
      ],
      profiles: async (ns, name) => (ns === "shop" && name === "web" ? profiles : undefined),
      bundle: async () => undefined,
    },
  });
  server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  writer = await HostWriter.open({ root: base, seccompLayout: "cluster" });
});

afterEach(async () => {
  await writer.close();
  await new Promise((r) => server.close(r));
  await rm(base, { recursive: true, force: true });
});

describe("single-host mode from the merger's API", () => {
  it("reads every recording's profiles; a bad token or a failing API throws (nothing is taken as empty)", async () => {
    const got = await mergerProfiles(url, TOKEN, fetch);
    expect(got.map((d) => [(d.object as ProfileObject).metadata.name, d.source])).toEqual([
      ["web-app", "merger:shop/web"],
      ["web-db", "merger:shop/web"],
    ]);
    await expect(mergerProfiles(url, "wrong-token-0123456789", fetch)).rejects.toThrow(/HTTP 401/);
    await expect(mergerProfiles("http://127.0.0.1:1", TOKEN, fetch)).rejects.toThrow();
  });

  it("installs only what the local store approves, and removes what the merger no longer serves", async () => {
    const store = new LocalApprovalStore(path.join(base, "store", "approvals.json"));
    const state = new LocalInstallState(path.join(base, "store", "state.json"));
    const [app] = profiles;
    if (app === undefined) throw new Error("fixture");
    await store.approve(
      { kind: "SeccompProfile", name: "web-app" },
      profileDigest(app),
      "alice",
      new Date(),
      approvalDigestInput(app),
    );
    const deps = {
      node: "host",
      kernel: { AppArmorProfile: new AppArmorKernel(), SelinuxProfile: new SelinuxKernel() },
      usage: noUsage,
    };
    const pass = async () =>
      singleHostPass({
        desired: await mergerProfiles(url, TOKEN, fetch),
        store,
        state,
        rootKey: base,
        writer,
        deps,
      });
    const r = await pass();
    expect(r.statuses.map((s) => [s.name, s.state]).sort()).toEqual([
      ["web-app", "Installed"],
      ["web-db", "Pending"],
    ]);
    const dir = path.join(base, "var/lib/kubelet/seccomp/operator");
    expect(await readdir(dir)).toEqual(["web-app.json"]);
    expect(JSON.parse(await readFile(path.join(dir, "web-app.json"), "utf8")).defaultAction).toBe(
      "SCMP_ACT_ERRNO",
    );

    profiles = [];
    const r2 = await pass();
    expect(r2.removed.map((x) => x.name)).toEqual(["web-app"]);
    expect(await readdir(dir)).toEqual([]);
  });

  it("a corrupt approval store fails the pass before anything on the host changes", async () => {
    const storeFile = path.join(base, "approvals.json");
    await writeFile(storeFile, "{ not json");
    const store = new LocalApprovalStore(storeFile);
    const state = new LocalInstallState(path.join(base, "state.json"));
    await expect(
      singleHostPass({
        desired: await mergerProfiles(url, TOKEN, fetch),
        store,
        state,
        rootKey: base,
        writer,
        deps: {
          node: "host",
          kernel: { AppArmorProfile: new AppArmorKernel(), SelinuxProfile: new SelinuxKernel() },
          usage: noUsage,
        },
      }),
    ).rejects.toThrow(/not valid JSON/);
    expect((await readdir(base)).sort()).toEqual(["approvals.json"]);
  });
});
