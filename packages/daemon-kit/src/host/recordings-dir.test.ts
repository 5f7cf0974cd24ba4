import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ProfileRecordingChange } from "../kube/recordings.js";
import { DirRecordingWatcher, type InvalidRecordingFile } from "./recordings-dir.js";

const manifest = (name: string, extra = "") => `apiVersion: security-profiles-operator.x-k8s.io/v1
kind: ProfileRecording
metadata:
  name: ${name}
${extra}spec:
  kind: SeccompProfile
  recorder: Logs
  mergeStrategy: Containers
  podSelector:
    matchLabels: {app: web}
`;

describe("DirRecordingWatcher", () => {
  let dir: string;
  let w: DirRecordingWatcher;
  let changes: ProfileRecordingChange[];
  let invalid: InvalidRecordingFile[];

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "secprof-recdir-"));
    changes = [];
    invalid = [];
    // No periodic rescan during the test: every change is driven by rescan() (fs.watch may add more).
    w = new DirRecordingWatcher({ dir, rescanMs: 3_600_000, onInvalid: (i) => invalid.push(i) });
    w.subscribe((c) => changes.push(c));
  });
  afterEach(async () => {
    await w.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("loads valid manifests (v1alpha1 enums folded, namespace defaulted) and reports every kind of invalid one", async () => {
    writeFileSync(path.join(dir, "a.yaml"), manifest("web", "  namespace: shop\n"));
    writeFileSync(path.join(dir, "b.yml"), manifest("other").replace("Logs", "logs"));
    writeFileSync(path.join(dir, "c.yaml"), "kind: [unclosed\n");
    writeFileSync(path.join(dir, "d.yaml"), manifest("bad").replace("SeccompProfile", "NoSuchKind"));
    writeFileSync(path.join(dir, "e.yaml"), manifest("web.v1"));
    writeFileSync(
      path.join(dir, "f.yaml"),
      manifest("se").replace("SeccompProfile", "SelinuxProfile").replace("Logs", "Bpf"),
    );
    writeFileSync(path.join(dir, "g.yaml"), manifest("web", "  namespace: shop\n"));
    writeFileSync(path.join(dir, "notes.txt"), "ignored");
    writeFileSync(path.join(dir, ".hidden.yaml"), manifest("hidden"));
    symlinkSync(path.join(dir, "a.yaml"), path.join(dir, "h.yaml"));
    await w.start();

    expect(w.list().map((r) => `${r.metadata.namespace}/${r.metadata.name}/${r.spec.recorder}`)).toEqual([
      "default/other/Logs",
      "shop/web/Logs",
    ]);
    expect(w.get("shop", "web")?.spec.mergeStrategy).toBe("Containers");
    expect(w.list("shop")).toHaveLength(1);
    const byFile = Object.fromEntries(w.invalid().map((i) => [path.basename(i.source), i.problem]));
    expect(byFile).toEqual({
      "c.yaml": "yaml",
      "d.yaml": "schema",
      "e.yaml": "name",
      "f.yaml": "combination",
      "g.yaml": "duplicate",
      "h.yaml": "file",
    });
    expect(w.stats).toMatchObject({ valid: 2, invalid: 6, scanFailures: 0 });
    expect(invalid).toHaveLength(6);
    expect(changes.map((c) => `${c.type} ${c.recording.metadata.name}`).sort()).toEqual([
      "upsert other",
      "upsert web",
    ]);

    // A rescan with nothing changed repeats neither the changes nor the invalid reports.
    await w.rescan();
    expect(changes).toHaveLength(2);
    expect(invalid).toHaveLength(6);
  });

  it("a deleted file, or one turning invalid, deletes its recording; an edit is an upsert", async () => {
    writeFileSync(path.join(dir, "web.yaml"), manifest("web"));
    writeFileSync(path.join(dir, "api.yaml"), `${manifest("api")}---\n${manifest("api2")}`);
    await w.start();
    expect(w.list().map((r) => r.metadata.name)).toEqual(["api", "api2", "web"]);
    changes.length = 0;

    unlinkSync(path.join(dir, "web.yaml"));
    writeFileSync(
      path.join(dir, "api.yaml"),
      `${manifest("api").replace("Containers", "None")}---\nkind: [\n`,
    );
    await w.rescan();
    const seen = changes.map(
      (c) => `${c.type} ${c.recording.metadata.name} ${c.recording.spec.mergeStrategy}`,
    );
    expect(seen.sort()).toEqual(["delete api2 Containers", "delete web Containers", "upsert api None"]);
    expect(w.list().map((r) => r.metadata.name)).toEqual(["api"]);
    expect(w.invalid().map((i) => `${path.basename(i.source)} ${i.problem}`)).toEqual(["api.yaml#1 yaml"]);
  });

  it("picks up a new file through fs.watch without a rescan being asked for", async () => {
    await w.start();
    writeFileSync(path.join(dir, "late.yaml"), manifest("late"));
    const end = Date.now() + 5000;
    while (w.get("default", "late") === undefined && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    expect(changes.map((c) => `${c.type} ${c.recording.metadata.name}`)).toEqual(["upsert late"]);
  });

  it("fails to start on a missing directory, and keeps the last view when the directory goes away later", async () => {
    const missing = new DirRecordingWatcher({ dir: path.join(dir, "nope") });
    await expect(missing.start()).rejects.toThrow(/ENOENT/);
    expect(missing.synced).toBe(false);

    const errors: unknown[] = [];
    const sub = path.join(dir, "sub");
    mkdirSync(sub);
    writeFileSync(path.join(sub, "web.yaml"), manifest("web"));
    const v = new DirRecordingWatcher({ dir: sub, rescanMs: 3_600_000, onError: (e) => errors.push(e) });
    await v.start();
    rmSync(sub, { recursive: true });
    await v.rescan();
    expect(v.list().map((r) => r.metadata.name)).toEqual(["web"]);
    expect(v.stats.scanFailures).toBe(1);
    expect(errors.length).toBeGreaterThan(0);
    await v.stop();
  });
});
