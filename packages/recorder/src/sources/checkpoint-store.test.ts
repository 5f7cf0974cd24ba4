import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Checkpoint } from "@secprof/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadCheckpoint, resumeFrom, saveCheckpoint } from "./checkpoint-store.js";

const cp: Checkpoint = { v: 1, dev: 64769, ino: 1234567, offset: 4096, path: "/var/log/audit/audit.log" };

describe("checkpoint store", () => {
  let dir = "";
  let file = "";
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "secprof-checkpoint-"));
    file = join(dir, "audit.checkpoint.json");
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("round-trips and replaces an existing checkpoint, leaving no temp file", async () => {
    await saveCheckpoint(file, { ...cp, offset: 1 });
    await saveCheckpoint(file, cp);
    expect(await loadCheckpoint(file)).toEqual({ kind: "loaded", checkpoint: cp });
    expect(await readdir(dir)).toEqual(["audit.checkpoint.json"]);
  });

  it("reports a missing file as missing", async () => {
    expect(await loadCheckpoint(file)).toEqual({ kind: "missing" });
  });

  it.each([
    ["empty file", ""],
    ["torn write", JSON.stringify(cp).slice(0, 20)],
    ["wrong version", JSON.stringify({ ...cp, v: 2 })],
    ["negative offset", JSON.stringify({ ...cp, offset: -1 })],
    ["fractional inode", JSON.stringify({ ...cp, ino: 1.5 })],
    ["missing path", JSON.stringify({ v: 1, dev: 1, ino: 1, offset: 0 })],
    ["not an object", "[]"],
  ])("reports a corrupt checkpoint (%s) as a value", async (_name, text) => {
    await writeFile(file, text);
    const loaded = await loadCheckpoint(file);
    expect(loaded.kind).toBe("corrupt");
    expect(resumeFrom(loaded)).toEqual({ from: undefined, startAt: "end" });
  });

  it("resumes from a loaded checkpoint", async () => {
    await saveCheckpoint(file, cp);
    expect(resumeFrom(await loadCheckpoint(file))).toEqual({ from: cp, startAt: "end" });
  });

  it("refuses to write an invalid checkpoint and keeps the old one", async () => {
    await saveCheckpoint(file, cp);
    await expect(saveCheckpoint(file, { ...cp, offset: -5 })).rejects.toThrow();
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual(cp);
    expect(await readdir(dir)).toEqual(["audit.checkpoint.json"]);
  });

  it("throws when the directory does not exist", async () => {
    await expect(saveCheckpoint(join(dir, "no-such-dir", "cp.json"), cp)).rejects.toThrow(/ENOENT/);
  });
});
