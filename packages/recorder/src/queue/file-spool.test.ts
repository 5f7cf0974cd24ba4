import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Observation } from "@secprof/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileSpool } from "./file-spool.js";

const obs = (seq: number): Observation => ({
  v: 1,
  target: {
    recording: "rec",
    namespace: "shop",
    pod: "p",
    podUid: "u",
    container: "c",
    containerId: "id",
    node: "n",
    kind: "SeccompProfile",
    replica: "",
    profileName: "rec-c",
  },
  recorder: "n",
  seq,
  at: seq,
  delta: { syscalls: { x86_64: ["read"] }, avc: [] },
  loss: { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 },
});

describe("FileSpool", () => {
  let dir = "";
  let file = "";
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "secprof-filespool-"));
    file = join(dir, "spool.ndjson");
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("group-commits concurrent appends and reloads them in order", async () => {
    const { spool, observations } = await FileSpool.open(file);
    expect(observations).toEqual([]);
    await Promise.all([1, 2, 3, 4, 5].map((i) => spool.append(JSON.stringify(obs(i)))));
    expect(spool.lines).toBe(5);
    await spool.close();
    const again = await FileSpool.open(file);
    expect(again.observations.map((o) => o.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(again.corrupt).toBe(0);
    await again.spool.close();
  });

  it("skips a torn tail and foreign lines, and appends after them on a fresh line", async () => {
    await writeFile(
      file,
      `${JSON.stringify(obs(1))}\nnot json\n{"v":2}\n${JSON.stringify(obs(2)).slice(0, 30)}`,
    );
    const { spool, observations, corrupt } = await FileSpool.open(file);
    expect(observations.map((o) => o.seq)).toEqual([1]);
    expect(corrupt).toBe(3);
    await spool.append(JSON.stringify(obs(3)));
    await spool.close();
    const again = await FileSpool.open(file);
    expect(again.observations.map((o) => o.seq)).toEqual([1, 3]);
    await again.spool.close();
  });

  it("clear empties the file; rewrite replaces it atomically without leaving a temp file", async () => {
    const { spool } = await FileSpool.open(file);
    for (const i of [1, 2, 3]) await spool.append(JSON.stringify(obs(i)));
    await spool.rewrite([JSON.stringify(obs(3))]);
    expect(await readdir(dir)).toEqual(["spool.ndjson"]);
    expect((await readFile(file, "utf8")).trim().split("\n")).toHaveLength(1);
    await spool.append(JSON.stringify(obs(4)));
    const reread = await FileSpool.open(file);
    expect(reread.observations.map((o) => o.seq)).toEqual([3, 4]);
    await reread.spool.close();
    await spool.clear();
    expect(await readFile(file, "utf8")).toBe("");
    await spool.append(JSON.stringify(obs(5)));
    expect(await readFile(file, "utf8")).toBe(`${JSON.stringify(obs(5))}\n`);
    await spool.close();
  });
});
