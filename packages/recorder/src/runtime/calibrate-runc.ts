import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { SyscallSet } from "@secprof/core";
import { z } from "zod";
import type { LocalRecorder } from "../local/local-recorder.js";
import { runLocal } from "../local/run-local.js";
import { runcRecording } from "./record-in-runc.js";

/**
 * What runc's init does after installing a container's filter is not fully deterministic: it is a
 * Go program, and whether its locked thread parks on a futex or returns from a preemption
 * signal (rt_sigreturn) in that window depends on scheduling. One recording can miss such a
 * syscall, and the container then dies under its profile. So the runtime's share is measured
 * over many runs (several at once, so the scheduler exercises those paths) and the union is kept
 * per runc binary, growing with every `--for runc` recording.
 */
const RUNS = 16;
const PARALLEL = 4;

const CacheFile = z.object({
  v: z.literal(1),
  runtime: z.string(),
  digest: z.string(),
  runs: z.number().int().nonnegative(),
  syscalls: z.partialRecord(z.string(), z.array(z.string())),
});

async function fileDigest(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

export interface RuntimeCalibration {
  syscalls: SyscallSet;
  runs: number;
  /** Merge one more measured run into the cache. */
  add(observed: SyscallSet): Promise<void>;
}

/**
 * The union of runc's post-filter syscalls over all measured runs on this machine; measures
 * `RUNS` fresh ones when nothing is cached yet for this runc binary.
 */
export async function runcCalibration(
  runcPath: string,
  cacheDir: string,
  makeRecorder: () => LocalRecorder,
): Promise<RuntimeCalibration | string> {
  const digest = await fileDigest(runcPath);
  const file = path.join(cacheDir, `runc-${digest.slice(0, 16)}-${makeRecorder().name}.json`);
  let syscalls = new SyscallSet();
  let runs = 0;
  try {
    const cached = CacheFile.parse(JSON.parse(await readFile(file, "utf8")));
    syscalls = SyscallSet.fromJSON(cached.syscalls as Parameters<typeof SyscallSet.fromJSON>[0]);
    runs = cached.runs;
  } catch {
    // No (valid) cache: measure.
  }
  if (runs === 0) {
    for (let done = 0; done < RUNS; done += PARALLEL) {
      const batch = await Promise.all(Array.from({ length: PARALLEL }, () => measureOnce(makeRecorder())));
      for (const r of batch) {
        if (typeof r === "string") return r;
        syscalls.addAll(r);
        runs++;
      }
    }
  }
  const save = async () => {
    await mkdir(cacheDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(
      tmp,
      JSON.stringify({ v: 1, runtime: runcPath, digest, runs, syscalls: syscalls.toJSON() }),
    );
    await rename(tmp, file);
  };
  await save();
  return {
    syscalls,
    runs,
    add: async (observed) => {
      syscalls.addAll(observed);
      runs++;
      await save();
    },
  };
}

async function measureOnce(rec: LocalRecorder): Promise<SyscallSet | string> {
  const problem = await rec.start();
  if (problem !== undefined) return problem;
  const container = await runcRecording(["/usr/bin/true"], rec.name, "/", { PATH: "/usr/bin:/bin" });
  try {
    const run = await runLocal(rec, container.argv, process.env);
    if (run.exitCode !== 0) return `calibration container exited with ${run.exitCode}`;
    if (run.result.incomplete.length > 0)
      return `calibration incomplete: ${run.result.incomplete.join("; ")}`;
    return run.result.runtime ?? new SyscallSet();
  } finally {
    await container.cleanup();
  }
}
