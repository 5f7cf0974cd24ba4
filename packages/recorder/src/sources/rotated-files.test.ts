import { renameSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { closeAll, openNewestFirst, rotatedNames } from "./rotated-files.js";

describe("rotatedNames", () => {
  it("orders rotated copies newest first and skips compressed and unrelated files", () => {
    const entries = [
      "audit.log",
      "audit.log.10",
      "audit.log.2",
      "audit.log.1",
      "audit.log.3.gz",
      "audit.log-20240102",
      "audit.log-20240101",
      "audit.logger",
      "audit.log.bak",
      "other.log.1",
    ];
    expect(rotatedNames("audit.log", entries)).toEqual([
      "audit.log.1",
      "audit.log.2",
      "audit.log.10",
      "audit.log-20240102",
      "audit.log-20240101",
    ]);
  });
});

describe("openNewestFirst", () => {
  it("opens the live file then rotated ones, stopping at the wanted file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "secprof-rotated-"));
    try {
      for (const n of ["audit.log", "audit.log.1", "audit.log.2", "audit.log.3"])
        await writeFile(join(dir, n), n);
      const files = await openNewestFirst(join(dir, "audit.log"), (f) => f.name === "audit.log.2");
      expect(files.map((f) => [f.name, f.rotated, f.size])).toEqual([
        ["audit.log", false, 9],
        ["audit.log.1", true, 11],
        ["audit.log.2", true, 11],
      ]);
      await closeAll(files);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("finds a file that a rotation during the walk shifted past the directory listing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "secprof-rotated-"));
    const log = join(dir, "audit.log");
    try {
      for (const n of ["audit.log", "audit.log.1", "audit.log.2"]) await writeFile(join(dir, n), n);
      let rotated = false;
      // Right after the live file is opened (the directory was listed before), auditd rotates.
      const files = await openNewestFirst(log, () => {
        if (!rotated) {
          rotated = true;
          for (const k of [2, 1]) renameSync(`${log}.${k}`, `${log}.${k + 1}`);
          renameSync(log, `${log}.1`);
          writeFileSync(log, "new");
        }
        return false;
      });
      // audit.log.2 (now .3) was not in the listing; audit.log (now .1) is seen once.
      expect(files.map((f) => [f.name, f.size])).toEqual([
        ["audit.log", 9],
        ["audit.log.2", 11],
        ["audit.log.3", 11],
      ]);
      await closeAll(files);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
