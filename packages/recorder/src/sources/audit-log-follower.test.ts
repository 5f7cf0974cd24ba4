import { appendFile, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Checkpoint } from "@secprof/core";
import { type TailerUnderTest, tailerContract } from "@secprof/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuditLogFollower, type AuditLogFollowerOptions, type FollowEvent } from "./audit-log-follower.js";

function followerUnderTest(extra: Partial<AuditLogFollowerOptions> = {}): TailerUnderTest<Checkpoint> {
  let follower: AuditLogFollower | undefined;
  let loop: Promise<void> = Promise.resolve();
  return {
    async start(path, onLine, from) {
      const f = await AuditLogFollower.open({ path, from, startAt: "start", pollMs: 50, ...extra });
      follower = f;
      loop = (async () => {
        for await (const batch of f) for (const line of batch.lines) onLine(line);
      })();
    },
    async stop() {
      if (follower === undefined) return undefined;
      await follower.close();
      await loop;
      return follower.checkpoint;
    },
    droppedLongLines: () => follower?.stats.droppedLongLines ?? 0,
  };
}

tailerContract("AuditLogFollower", () => followerUnderTest());
// Small reads put line, guard and rotation boundaries in the middle of reads.
tailerContract("AuditLogFollower, 4 KiB reads", () => followerUnderTest({ chunkBytes: 4096 }));

describe("AuditLogFollower", () => {
  let dir = "";
  let log = "";
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "secprof-follower-"));
    log = join(dir, "audit.log");
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Reads batches until `count` lines arrived, then closes; returns lines, last batch checkpoint, events. */
  async function collect(options: AuditLogFollowerOptions, count: number) {
    const events: FollowEvent[] = [];
    const f = await AuditLogFollower.open({ pollMs: 20, ...options, onEvent: (e) => events.push(e) });
    const lines: string[] = [];
    const timer = setTimeout(() => void f.close(), 3000);
    for await (const batch of f) {
      lines.push(...batch.lines);
      expect(batch.checkpoint).toEqual(f.checkpoint);
      if (lines.length >= count) break;
    }
    clearTimeout(timer);
    return { lines, checkpoint: f.checkpoint, events, stats: f.stats };
  }

  it("decodes latin1: every byte is one char, nothing replaced", async () => {
    const bytes = Buffer.from([...Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0x0a), 0x0a]);
    await writeFile(log, bytes);
    const { lines } = await collect({ path: log, startAt: "start" }, 1);
    expect(Buffer.from(lines[0] ?? "", "latin1")).toEqual(bytes.subarray(0, 255));
  });

  it("without a checkpoint starts after the last complete line by default", async () => {
    await writeFile(log, "old 1\nold 2\npartial");
    const f = await AuditLogFollower.open({ path: log, pollMs: 20 });
    expect(f.checkpoint?.offset).toBe(12);
    await appendFile(log, " done\nnew 1\n");
    const lines: string[] = [];
    for await (const batch of f) {
      lines.push(...batch.lines);
      if (lines.length >= 2) break;
    }
    expect(lines).toEqual(["partial done", "new 1"]);
  });

  it("resumes a checkpointed file found as audit.log.2 after two rotations while down", async () => {
    await writeFile(log, "a1\na2\n");
    const first = await collect({ path: log, startAt: "start" }, 2);
    expect(first.lines).toEqual(["a1", "a2"]);
    await appendFile(log, "a3\n");
    await rename(log, `${log}.1`);
    await writeFile(log, "b1\n");
    await rename(`${log}.1`, `${log}.2`);
    await rename(log, `${log}.1`);
    await writeFile(log, "c1\n");
    const second = await collect({ path: log, from: first.checkpoint }, 3);
    expect(second.lines).toEqual(["a3", "b1", "c1"]);
    expect(second.events[0]).toEqual({ kind: "resumed", file: "audit.log.2", offset: 6 });
    expect(second.stats.rotations).toBe(2);
  });

  it("ignores a checkpoint taken for another path and says so", async () => {
    await writeFile(log, "x\n");
    const from: Checkpoint = { v: 1, dev: 1, ino: 1, offset: 0, path: "/elsewhere/audit.log" };
    const events: FollowEvent[] = [];
    const f = await AuditLogFollower.open({ path: log, from, onEvent: (e) => events.push(e) });
    await f.close();
    expect(f.checkpoint?.offset).toBe(2);
    expect(events).toEqual([
      {
        kind: "checkpoint-not-used",
        reason: "checkpoint is for /elsewhere/audit.log",
        startingAt: { file: "audit.log", offset: 2 },
      },
    ]);
  });

  it("reports a checkpoint whose file is gone and reads the current file from its start", async () => {
    await writeFile(log, "new\n");
    const from: Checkpoint = { v: 1, dev: 0, ino: 0, offset: 100, path: log };
    const { lines, events } = await collect({ path: log, from }, 1);
    expect(lines).toEqual(["new"]);
    expect(events[0]).toMatchObject({
      kind: "checkpoint-not-used",
      startingAt: { file: "audit.log", offset: 0 },
    });
  });

  it("counts a copytruncate recovered from the copy", async () => {
    await writeFile(log, "");
    const events: FollowEvent[] = [];
    const f = await AuditLogFollower.open({
      path: log,
      startAt: "start",
      pollMs: 20,
      onEvent: (e) => events.push(e),
    });
    const lines: string[] = [];
    const loop = (async () => {
      for await (const b of f) lines.push(...b.lines);
    })();
    await appendFile(log, "1\n2\n");
    await new Promise((r) => setTimeout(r, 100));
    await appendFile(log, "3\n");
    await writeFile(`${log}.1`, "1\n2\n3\n");
    await writeFile(log, "4\n5\n6\n7\n8\n");
    await new Promise((r) => setTimeout(r, 200));
    await f.close();
    await loop;
    expect(lines).toEqual(["1", "2", "3", "4", "5", "6", "7", "8"]);
    expect(f.stats).toMatchObject({ truncations: 1, truncationsRecovered: 1 });
    expect(events).toContainEqual({ kind: "truncated", file: "audit.log", recoveredFrom: "audit.log.1" });
  });

  it("moves the checkpoint past a dropped long line", async () => {
    await writeFile(log, `a\n${"x".repeat(100)}\nb\n`);
    const { lines, checkpoint, stats } = await collect({ path: log, startAt: "start", maxLineBytes: 50 }, 2);
    expect(lines).toEqual(["a", "b"]);
    expect(stats.droppedLongLines).toBe(1);
    expect(checkpoint?.offset).toBe(2 + 101 + 2);
  });
});
