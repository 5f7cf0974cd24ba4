import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fakeBpftraceDir } from "@secprof/testkit";
import { afterAll, describe, expect, it } from "vitest";
import type { AppArmorExecLine } from "./apparmor-parse.js";
import { AppArmorBpfSource, type AppArmorBpfSourceOptions } from "./apparmor-source.js";

// A stand-in for bpftrace (no root needed): prints the captured apparmor.bt run up to BEGIN,
// relays the marker's exec line as bpftrace would, and on SIGINT prints the rest (the END maps).
const FIXTURE = fileURLToPath(new URL("./fixtures/bpftrace-0.17-apparmor.jsonl", import.meta.url));
const stand = fakeBpftraceDir("secprof-fake-aa-bpftrace-");
const dir = stand.dir;
afterAll(() => stand.remove());
const fakeBpftrace = stand.script;
const marker = (name: string) => stand.marker(name, 7);

fakeBpftrace(
  "replay",
  `echo "args: $*" >&2
trap 'tail -n +3 "${FIXTURE}"; exit 0' INT
echo 'not json'
echo '{"type": "printf", "data": "x"}'
head -n 2 "${FIXTURE}"
while :; do relay; sleep 0.02; done`,
);
fakeBpftrace(
  "broken",
  `echo 'ERROR: Struct/union of type "struct ns_common" does not contain a field named "ns_id"' >&2; exit 1`,
);

const WORKDIR = { path: "/tmp/aa-fx/w", dev: 254 * 2 ** 20, ino: 2285937 };
const fake = (name: string, opts: AppArmorBpfSourceOptions = {}): AppArmorBpfSourceOptions => ({
  bpftrace: join(dir, name),
  marker: marker(name),
  resolver: { cwd: () => WORKDIR },
  startTimeoutMs: 10_000,
  ...opts,
});

describe("AppArmorBpfSource with a stand-in bpftrace", () => {
  it("starts after the marker handshake; stop() reads the END maps into per-namespace facts", async () => {
    const src = new AppArmorBpfSource(
      fake("replay", { excludeMntns: 4026531832, maxPathsPerNamespace: 500 }),
    );
    expect(src.command.slice(-4)).toEqual(["1000", "4026531832", "500", "1"]);
    const execs: AppArmorExecLine[] = [];
    src.onExec((e) => execs.push(e));
    const started = await src.start();
    expect(started.ok, started.ok ? "" : started.problem).toBe(true);
    const stats = await src.stop();
    expect(stats.finalSnapshot).toBe(true);
    expect(stats.exit?.code).toBe(0);
    expect(stats.dropped).toEqual({ invalid_json: 1, schema: 0, unexpected: 1, bad_key: 0 });
    expect(execs.some((e) => e.nsId === 1251 && e.filename === "/usr/bin/chown")).toBe(true);
    expect(src.namespaces()).toEqual([1251]);
    const facts = src.facts(1251);
    expect(facts.capabilities).toEqual(["chown"]);
    expect(facts.writePaths).toContain("/tmp/aa-fx/w/own");
    expect(src.loss(1251).truncated).toBe(0);
    src.forget(1251);
    expect(src.namespaces()).toEqual([]);
  });

  it("says why when bpftrace cannot load the program", async () => {
    const src = new AppArmorBpfSource(fake("broken"));
    const r = await src.start();
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problem).toMatch(/exited before attaching the AppArmor probes \(code 1\): ERROR: .*ns_id/);
      expect(r.stderr).toMatch(/ns_common/);
    }
  });

  it("reports a kernel map at its key limit (facts of every namespace are being lost)", async () => {
    const warnings: string[] = [];
    const src = new AppArmorBpfSource(fake("replay", { mapKeysMax: 16, onWarning: (m) => warnings.push(m) }));
    expect((await src.start()).ok).toBe(true);
    const stats = await src.stop();
    expect(stats.mapFullSnapshots).toBeGreaterThan(0);
    expect(warnings.some((w) => /AppArmor map @p is full/.test(w))).toBe(true);
  });

  it("rejects out-of-range options", () => {
    expect(() => new AppArmorBpfSource({ intervalMs: 5 })).toThrow(RangeError);
    expect(() => new AppArmorBpfSource({ maxPathsPerNamespace: 0 })).toThrow(RangeError);
  });
});
