import { ClusterApprovalApi, nodeStatusName } from "@secprof/installer";
import {
  type FakeApiServer,
  installerKinds,
  type KObject,
  spoKinds,
  startFakeApiServer,
} from "@secprof/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { approve } from "./approve.js";

/** `secprof approve` in cluster mode against the fake API server (the person's own kubeconfig). */

const GROUP = "security-profiles-operator.x-k8s.io";
const API = `${GROUP}/v1`;
let api: FakeApiServer;
let out: string;
let err: string;

const io = () => ({
  stdout: {
    write: (s: string) => {
      out += s;
    },
  },
  stderr: {
    write: (s: string) => {
      err += s;
    },
  },
  env: {},
});
const run = (ref: string, extra: { revoke?: boolean; by?: string } = {}, user = "alice") =>
  approve({ ref, ...extra }, { ...io(), cluster: new ClusterApprovalApi(api.kubeConfig(user)) });

function seccomp(names: string[]): KObject {
  return {
    apiVersion: API,
    kind: "SeccompProfile",
    metadata: { name: "web" },
    spec: {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [{ names, action: "SCMP_ACT_ALLOW" }],
    },
  };
}
const approval = () =>
  api.get(API, "ProfileApproval", "seccomp.web") as
    | (KObject & { spec: { digest: string; approvedBy: string; revoked?: { by: string } } })
    | undefined;

beforeEach(async () => {
  out = "";
  err = "";
  api = await startFakeApiServer({ kinds: spoKinds({ profilesNamespaced: false, versions: ["v1"] }) });
  for (const k of installerKinds()) api.registerKind(k);
});
afterEach(() => api.close());

describe("secprof approve (cluster mode)", () => {
  it("creates the ProfileApproval with the kubeconfig user, then shows a diff against it on change", async () => {
    api.put(seccomp(["read", "write"]));
    expect(await run("seccomp/web")).toBe(0);
    expect(err).toBe("");
    expect(out).toContain("nothing installed or approved before");
    expect(out).toMatch(/approved SeccompProfile\/web sha256:[0-9a-f]{12}… by alice/);
    const first = approval();
    expect(first?.spec).toMatchObject({ kind: "SeccompProfile", name: "web", approvedBy: "alice" });
    expect(first?.metadata.annotations?.["secprof.io/approved-content"]).toContain(
      '"names":["read","write"]',
    );
    // The request was made as alice, with her own credentials.
    expect(
      api.requests.filter((r) => r.verb === "create" && r.resource === "profileapprovals")[0]?.user,
    ).toBe("alice");

    // A node reports it installed; the profile then widens.
    api.put({
      apiVersion: API,
      kind: "ProfileNodeStatus",
      metadata: { name: nodeStatusName("node-a", { kind: "SeccompProfile", name: "web" }) },
      spec: { node: "node-a", kind: "SeccompProfile", name: "web" },
      status: { state: "Installed", message: "Installed: ok", digest: first?.spec.digest },
    });
    const cur = api.get(API, "SeccompProfile", "web") as KObject;
    api.put({ ...cur, spec: seccomp(["read", "write", "execve"]).spec });
    out = "";
    expect(await run("seccomp/web", {}, "bob")).toBe(0);
    expect(out).toMatch(/node node-a: Installed, installed sha256:/);
    expect(out).toMatch(/compared with the last approved version \(alice/);
    expect(out).toMatch(/\+! .*execve/);
    expect(out).toContain("WIDENS");
    expect(approval()?.spec.approvedBy).toBe("bob");
    expect(approval()?.spec.digest).not.toBe(first?.spec.digest);

    out = "";
    expect(await run("seccomp/web", {}, "bob")).toBe(0);
    expect(out).toContain("already approved by bob");
  });

  it("revokes by marking the object; a second revoke and a missing profile fail", async () => {
    api.put(seccomp(["read"]));
    expect(await run("seccomp/web")).toBe(0);
    expect(await run("seccomp/web", { revoke: true }, "carol")).toBe(0);
    expect(out).toContain("revoked by carol");
    expect(approval()?.spec.revoked?.by).toBe("carol");
    expect(await run("seccomp/web", { revoke: true }, "carol")).toBe(1);
    expect(err).toContain("has no approval to revoke");
    err = "";
    expect(await run("seccomp/nothere")).toBe(1);
    expect(err).toContain("not found in the cluster");
    err = "";
    expect(await run("seccomp/web", { by: "mallory" })).toBe(2);
    expect(err).toContain("the approver is the kubeconfig user");
  });

  it("refuses an invalid profile (it could never be installed)", async () => {
    api.put(seccomp(["read", "no_such_syscall"]));
    expect(await run("seccomp/web")).toBe(1);
    expect(err).toMatch(/refusing to approve SeccompProfile\/web: invalid: .*no_such_syscall/);
    expect(approval()).toBeUndefined();
  });
});
