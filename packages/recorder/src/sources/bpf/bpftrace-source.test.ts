import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fakeBpftraceDir } from "@secprof/testkit";
import { afterAll, describe, expect, it } from "vitest";
import {
  BpftraceSource,
  type BpftraceSourceOptions,
  CORE_LOADER_PATH,
  CORE_OBJECT_PATH,
  COUNTS_PROGRAM_PATH,
} from "./bpftrace-source.js";
import type { BpfEvent } from "./parse.js";

// A stand-in for bpftrace (no root needed): prints the captured fixture up to the BEGIN marker,
// then, on SIGINT, the rest, the way bpftrace runs END. Extra lines exercise the drop counters.
const FIXTURE = fileURLToPath(new URL("./fixtures/bpftrace-0.17.jsonl", import.meta.url));
const stand = fakeBpftraceDir("secprof-fake-bpftrace-");
const dir = stand.dir;
afterAll(() => stand.remove());
const fakeBpftrace = stand.script;
/** The marker the stand-ins expect: writes an exec line with its own pid (n = 1: attached). */
const marker = (name: string) => stand.marker(name, 1);

fakeBpftrace(
  "replay",
  `echo "args: $*" >&2
trap 'tail -n +3 "${FIXTURE}"; printf "%s" "{\\"type\\": \\"value\\", \\"data\\": [\\"exec\\",1,0,7,\\"a\\",\\"b\\",0]}"; exit 0' INT
echo 'not json'
echo '{"type": "printf", "data": "x"}'
head -n 2 "${FIXTURE}"
while :; do relay; sleep 0.02; done`,
);
const fake = (name: string, opts: BpftraceSourceOptions = {}): BpftraceSourceOptions => ({
  engine: "bpftrace",
  bpftrace: join(dir, name),
  marker: marker(name),
  pdeathsig: false,
  ...opts,
});

describe("BpftraceSource with a stand-in bpftrace", () => {
  it("starts after the marker handshake, and stop() delivers everything up to END and exit", async () => {
    const events: BpfEvent[] = [];
    const src = new BpftraceSource(fake("replay", { intervalMs: 250 }));
    src.onEvent((e) => events.push(e));
    const started = await src.start();
    expect(started.ok).toBe(true);
    expect(src.state).toBe("running");
    const stats = await src.stop();
    expect(src.state).toBe("stopped");
    expect(stats.finalSnapshot).toBe(true);
    expect(stats.exit).toEqual({ code: 0, signal: null });
    expect(stats.dropped).toMatchObject({ invalid_json: 1, unexpected: 1, schema: 0 });
    expect(stats.kernelLost).toBe(448);
    expect(stats.snapshots).toBe(2);
    // The last line had no trailing newline: it is still read at exit.
    const execs = events.flatMap((e) => (e.type === "exec" && e.comm !== "marker" ? [e.pid] : []));
    expect(execs).toEqual([2707, 2718, 2752, 2753, 2754, 1]);
    // One marker proves the probes attached, one more is stop()'s barrier.
    expect(events.filter((e) => e.type === "exec" && e.comm === "marker").length).toBeGreaterThanOrEqual(2);
    const snaps = events.filter((e) => e.type === "snapshot");
    expect(snaps.map((s) => s.type === "snapshot" && [s.final, s.changed > 0])).toEqual([
      [false, true],
      [true, false],
    ]);
    // Arguments: the shipped program, then interval, mode, excluded namespace.
    expect(stats.stderr[0]).toMatch(/^args: -B line -f json .*\/syscalls\.bt 250 0$/);
  });

  it("async iterator yields the same events and ends when bpftrace exits", async () => {
    const src = new BpftraceSource(fake("replay"));
    const it = src.events();
    expect((await src.start()).ok).toBe(true);
    const stopped = src.stop();
    const got: string[] = [];
    for await (const e of it) got.push(e.type);
    await stopped;
    expect(got.filter((t) => t === "syscalls").length).toBeGreaterThan(30);
    expect(got.at(-1)).toBe("exec");
  });

  it("waits until a marker exec shows the sys_enter probe live (BEGIN runs before attaching)", async () => {
    fakeBpftrace("late", `trap 'exit 0' INT; head -n 2 "${FIXTURE}"; while :; do relay; sleep 0.02; done`);
    // The first marker's exec line says its execve was not recorded yet (n = 0), the second says it was.
    const n = join(dir, "late.count");
    const line = '{"type": "value", "data": ["exec",%d,1,7,"marker","/marker",%d]}';
    const m = [
      "sh",
      "-c",
      `if [ -f "${n}" ]; then a=1; else a=0; touch "${n}"; fi; printf '${line}\\n' $$ $a > "${dir}/late.tmp" && mv "${dir}/late.tmp" "${dir}/late.marker"`,
    ];
    const events: BpfEvent[] = [];
    const src = new BpftraceSource(fake("late", { marker: m }));
    src.onEvent((e) => events.push(e));
    expect((await src.start()).ok).toBe(true);
    await src.stop();
    // n = 0, then n = 1 (a retry only if the machine is slow), then stop()'s barrier.
    expect(events.filter((e) => e.type === "exec" && e.comm === "marker").length).toBeGreaterThanOrEqual(3);
  });

  it("fails start() when the marker's exec never shows up", async () => {
    fakeBpftrace("deaf", `trap 'exit 0' INT; head -n 2 "${FIXTURE}"; while :; do sleep 0.02; done`);
    const r = await new BpftraceSource(fake("deaf", { startTimeoutMs: 800 })).start();
    expect(r).toMatchObject({ ok: false, problem: expect.stringMatching(/did not attach/) });
  });

  it("reports a bpftrace that exits before attaching, with its stderr", async () => {
    const failing = fakeBpftrace(
      "fail",
      `echo "ERROR: bpftrace currently only supports running as the root user." >&2; exit 1`,
    );
    const r = await new BpftraceSource({ engine: "bpftrace", bpftrace: failing, pdeathsig: false }).start();
    expect(r).toMatchObject({ ok: false, exit: { code: 1 } });
    expect(!r.ok && r.stderr).toMatch(/root user/);
  });

  it("reports a missing executable as a value", async () => {
    const r = await new BpftraceSource({
      engine: "bpftrace",
      bpftrace: join(dir, "nope"),
      pdeathsig: false,
    }).start();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problem).toMatch(/cannot run|exited before/);
  });

  it("times out a bpftrace that never attaches, and kills it", async () => {
    const hang = fakeBpftrace("hang", "exec sleep 30");
    const t0 = Date.now();
    const r = await new BpftraceSource({
      engine: "bpftrace",
      bpftrace: hang,
      pdeathsig: false,
      startTimeoutMs: 300,
    }).start();
    expect(r).toMatchObject({ ok: false, problem: expect.stringMatching(/did not attach/) });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("kills a bpftrace that ignores SIGINT and says the final snapshot is missing", async () => {
    fakeBpftrace("stubborn", `trap '' INT; head -n 2 "${FIXTURE}"; while :; do relay; sleep 0.02; done`);
    const src = new BpftraceSource(fake("stubborn", { stopTimeoutMs: 300 }));
    expect((await src.start()).ok).toBe(true);
    const stats = await src.stop();
    expect(stats.finalSnapshot).toBe(false);
    expect(stats.exit?.signal).toBe("SIGKILL");
  });

  it("validates its options", () => {
    expect(() => new BpftraceSource({ intervalMs: 0 })).toThrow(RangeError);
    expect(() => new BpftraceSource({ strlen: 4096 })).toThrow(RangeError);
    expect(
      new BpftraceSource({
        engine: "bpftrace",
        counts: true,
        excludeMntns: 4026531840,
        pdeathsig: false,
      }).command.slice(-3),
    ).toEqual([COUNTS_PROGRAM_PATH, "1000", "4026531840"]);
    expect(
      new BpftraceSource({ engine: "libbpf", counts: true, excludeMntns: 7, pdeathsig: false }).command,
    ).toEqual([CORE_LOADER_PATH, CORE_OBJECT_PATH, "1000", "7", "65536", "count"]);
  });
});
