import { appendFileSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type LogPosition, logBarrier, settle } from "./log-barrier.js";

let dir: string;
let log: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "secprof-barrier-"));
  log = path.join(dir, "audit.log");
  writeFileSync(log, "a\n");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("logBarrier", () => {
  it("waits until what the log held when called has been processed", async () => {
    let at: LogPosition = { ino: statSync(log).ino, offset: 0 };
    appendFileSync(log, "b\n");
    const done = logBarrier(log, () => at, 5000, 5);
    let resolved = false;
    void done.then(() => {
      resolved = true;
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(resolved).toBe(false);
    at = { ino: at.ino, offset: 4 };
    expect(await done).toBe(true);
  });

  it("counts a follower already on the rotated-in file as past the end", async () => {
    const old = statSync(log).ino;
    const done = logBarrier(log, () => ({ ino: statSync(log).ino, offset: 0 }), 5000, 5);
    renameSync(log, `${log}.1`);
    writeFileSync(log, "");
    expect(statSync(log).ino).not.toBe(old);
    expect(await done).toBe(true);
  });

  it("gives up after the timeout", async () => {
    expect(await logBarrier(log, () => undefined, 30, 5)).toBe(false);
  });
});

describe("settle", () => {
  it("resolves true once the condition holds, false at the deadline", async () => {
    let held = true;
    setTimeout(() => {
      held = false;
    }, 30);
    expect(await settle(() => !held, 5000, 5)).toBe(true);
    const t0 = Date.now();
    expect(await settle(() => false, 50, 5)).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
  });
});
