import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ApprovalStoreError, LocalApprovalStore } from "./local-approvals.js";
import { withFileLock } from "./local-file.js";
import { loadProfileDir } from "./local-profiles.js";
import { LocalInstallState } from "./local-state.js";

let dir: string;
const sha = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}` as const;
const ref = { kind: "SeccompProfile" as const, name: "web" };
const at = new Date("2025-01-01T00:00:00.000Z");

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "secprof-store-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("local approval store", () => {
  it("starts empty, appends, revokes the current approval only, and stores 0600 in a 0700 dir", async () => {
    const store = new LocalApprovalStore(LocalApprovalStore.defaultPath(dir));
    expect(await store.records()).toEqual([]);
    await store.approve(ref, sha("a"), "alice", at, "a");
    await store.approve(ref, sha("b"), "bob", at, "b");
    const revoked = await store.revoke(ref, "carol", at);
    expect(revoked?.digest).toBe(sha("b"));
    expect(await store.revoke(ref, "carol", at)).toBeUndefined();
    const recs = await store.records();
    expect(recs.map((r) => [r.approvedBy, r.revoked?.by])).toEqual([
      ["alice", undefined],
      ["bob", "carol"],
    ]);
    expect((await stat(store.file)).mode & 0o777).toBe(0o644);
    expect((await stat(path.dirname(store.file))).mode & 0o777).toBe(0o700);
    expect((await readdir(path.dirname(store.file))).filter((n) => n !== "approvals.json")).toEqual([]);
  });

  it("serialises concurrent approvals: none is lost", async () => {
    const store = new LocalApprovalStore(path.join(dir, "a.json"));
    await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        store.approve({ kind: "SeccompProfile", name: `p${i}` }, sha(`${i}`), "x", at),
      ),
    );
    expect((await store.records()).length).toBe(25);
  });

  it("takes over a lock left by a killed process, and waits for a live one", async () => {
    const file = path.join(dir, "a.json");
    await writeFile(`${file}.lock`, "999999999");
    const store = new LocalApprovalStore(file);
    await store.approve(ref, sha("a"), "alice", at);
    expect(await store.records()).toHaveLength(1);
    await writeFile(`${file}.lock`, String(process.pid));
    await expect(withFileLock(file, async () => 1, 100)).rejects.toThrow(/held by pid/);
  });

  it("fails closed on a corrupt or foreign file, and never overwrites it", async () => {
    const file = path.join(dir, "a.json");
    const store = new LocalApprovalStore(file);
    await writeFile(
      file,
      '{"version":1,"approvals":[{"kind":"SeccompProfile","name":"../x"}],"snapshots":{}}',
    );
    await expect(store.records()).rejects.toThrow(ApprovalStoreError);
    await expect(store.approve(ref, sha("a"), "alice", at)).rejects.toThrow(ApprovalStoreError);
    expect(await readFile(file, "utf8")).toMatch(/\.\.\/x/);
  });

  it("refuses a symlinked store file", async () => {
    const file = path.join(dir, "a.json");
    await writeFile(path.join(dir, "elsewhere"), "{}");
    await symlink(path.join(dir, "elsewhere"), file);
    await expect(new LocalApprovalStore(file).records()).rejects.toThrow();
  });

  it("ignores a snapshot that does not match its digest", async () => {
    const file = path.join(dir, "a.json");
    const store = new LocalApprovalStore(file);
    await store.approve(ref, sha("real"), "alice", at, "real");
    expect(await store.snapshot(sha("real"))).toBe("real");
    const f = JSON.parse(await readFile(file, "utf8"));
    f.snapshots[sha("real")] = "tampered";
    await writeFile(file, JSON.stringify(f));
    expect(await store.snapshot(sha("real"))).toBeUndefined();
  });
});

describe("local install state", () => {
  it("keeps one manifest per host root", async () => {
    const state = new LocalInstallState(path.join(dir, "s.json"));
    await state.update("/a", async (s) => ({ state: { ...s, statuses: [] }, result: 1 }));
    await state.update("/b", async (s) => ({ state: s, result: 2 }));
    expect(Object.keys((await state.load()).roots).sort()).toEqual(["/a", "/b"]);
    expect(await state.root("/c")).toEqual({ installed: [], statuses: [] });
  });
});

describe("profile directory", () => {
  it("reads profile objects from YAML and JSON, multi-document, and skips everything else", async () => {
    const p = (name: string, extra: Record<string, unknown> = {}) => ({
      apiVersion: "security-profiles-operator.x-k8s.io/v1",
      kind: "SeccompProfile",
      metadata: { name, ...extra },
      spec: { defaultAction: "SCMP_ACT_ERRNO" },
    });
    await writeFile(
      path.join(dir, "a.yaml"),
      `${stringify(p("a"))}---\n${stringify(p("b", { deletionTimestamp: "2025-01-01T00:00:00Z" }))}`,
    );
    await writeFile(path.join(dir, "c.json"), JSON.stringify(p("c")));
    await writeFile(path.join(dir, "a.seccomp.json"), '{"defaultAction":"SCMP_ACT_ERRNO"}');
    await writeFile(path.join(dir, ".hidden.yaml"), stringify(p("hidden")));
    await writeFile(path.join(dir, "notes.txt"), "x");
    await writeFile(path.join(dir, "broken.yaml"), "a: [\n");
    await writeFile(path.join(dir, "outside.yaml"), stringify(p("z")));
    await mkdir(path.join(dir, "sub"));
    await symlink(path.join(dir, "outside.yaml"), path.join(dir, "link.yaml"));
    const r = await loadProfileDir(dir);
    expect(
      r.profiles.map((d) => [
        (d.object as { metadata: { name: string } }).metadata.name,
        d.deleting ?? false,
      ]),
    ).toEqual([
      ["a", false],
      ["b", true],
      ["c", false],
      ["z", false],
    ]);
    expect(r.skipped).toEqual([path.join(dir, "a.seccomp.json")]);
    expect(r.problems.map((x) => [path.basename(x.source), x.error.slice(0, 14)])).toEqual([
      ["broken.yaml", expect.any(String)],
      ["link.yaml", "is a symlink"],
    ]);
  });
});
