import { spawn } from "node:child_process";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { RedisProfileState } from "../packages/merger/src/redis-state.js";
import {
  createMergerWorker,
  OBSERVATION_QUEUE_NAME,
  OBSERVATION_QUEUE_PREFIX,
} from "../packages/merger/src/worker.js";
import { bullmqJobId, DEFAULT_JOB_OPTIONS, JOB_NAME } from "../packages/recorder/src/queue/bullmq-queue.js";

const port = 6392;
const proc = spawn("redis-server", ["--port", String(port), "--save", "", "--appendonly", "no"], {
  stdio: "ignore",
});
await new Promise((r) => setTimeout(r, 300));
const N = 60000;
const q = new Queue(OBSERVATION_QUEUE_NAME, { connection: { port }, prefix: OBSERVATION_QUEUE_PREFIX });
const mk = (i: number) => ({
  v: 1,
  target: {
    recording: "bench",
    namespace: "bench",
    pod: "web",
    podUid: "u",
    container: "app",
    containerId: "c",
    node: "n",
    kind: "SeccompProfile",
    replica: `r${i % 100}`,
    profileName: `bench-app-r${i % 100}`,
  },
  recorder: "node-1",
  seq: i,
  at: 1700000000000 + i,
  delta: {
    syscalls: { x86_64: ["read", "write", "openat", "close", "mmap", "futex", "brk", `s${i % 50}`] },
    avc: [],
  },
  loss: { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 },
});
for (let i = 0; i < N; i += 1000)
  await q.addBulk(
    Array.from({ length: 1000 }, (_, k) => {
      const o = mk(i + k);
      return { name: JOB_NAME, data: o, opts: { ...DEFAULT_JOB_OPTIONS, jobId: bullmqJobId(o as never) } };
    }),
  );
const mode = process.argv[2] ?? "full";
const client = new Redis({ port, enableAutoPipelining: true });
const real = new RedisProfileState(client);
const state =
  mode === "noapply"
    ? { apply: async () => {}, get: async () => undefined, list: async () => [], remove: async () => {} }
    : real;
const t0 = performance.now();
const c0 = process.cpuUsage();
const w = createMergerWorker({
  connection: { port, maxRetriesPerRequest: null, enableAutoPipelining: process.env.AP === "1" },
  state,
  concurrency: Number(process.env.CONC ?? 100),
});
while (w.stats().applied < N) await new Promise((r) => setTimeout(r, 5));
const s = (performance.now() - t0) / 1000;
const c = process.cpuUsage(c0);
console.log(mode, (N / s).toFixed(0), "jobs/s", ((c.user + c.system) / N).toFixed(1), "µs cpu/job");
await w.close();
await q.close();
client.disconnect();
proc.kill();
process.exit(0);
