/**
 * ObservationQueue on BullMQ (Redis).
 *
 * - Queue `secprof-observations` under the prefix `{secprof}`: every key of the queue carries the
 *   Redis Cluster hash tag `{secprof}`, so the same code runs on a cluster (one slot).
 * - Job id = `observationJobId(obs)`, escaped for BullMQ (which rejects `:` in custom ids): a
 *   redelivered observation gets the same id and BullMQ drops the duplicate while the job exists;
 *   after `removeOnComplete` it is applied again, which the merger's set union absorbs.
 * - Fail fast: the connection has `enableOfflineQueue: false` and a command timeout, and `send`
 *   never waits on a Redis that is not `ready`. Observations that cannot be sent go to a bounded
 *   spool (in memory, and in an fsync'd NDJSON file when `spool.file` is set) and are replayed in
 *   order, in `addBulk` batches, once Redis is back. While the spool is not empty, new observations
 *   queue behind it so that replay stays in order. A full spool is reported as `spool_full`.
 * - Backpressure: at most `maxInFlight` adds are outstanding; further `send`s wait for a slot.
 * - Payloads are validated with zod before they are sent (and again by the merger).
 * - `sendMany` puts a flush's observations into batch jobs (`ObservationBatch`, bounded in count
 *   and bytes): the merger's cost per job (BullMQ's scripts, a round trip) is then paid once per
 *   batch instead of once per target. A batch's id is a digest of its observations' ids, so a
 *   re-sent batch is dropped while it waits. The spool is replayed in the same batch jobs, in
 *   order: BullMQ's cost per job (two Lua scripts, ~25 µs of Redis and ~45 µs of ours) capped a
 *   replay of one observation per job at ~17 k/s, and the merger then took those at ~6 k/s. A
 *   replayed observation that was also sent before (an add that timed out but landed) is applied
 *   twice, which the merger's set union absorbs.
 */

import { createHash } from "node:crypto";
import type { ObservationQueue } from "@secprof/core";
import {
  OBSERVATION_BATCH_MAX,
  type Observation as Obs,
  Observation,
  type ObservationBatch,
  observationJobId,
  type SendResult,
} from "@secprof/core";
import { type JobsOptions, Queue } from "bullmq";
import { type Cluster, Redis, type RedisOptions } from "ioredis";
import type { Logger } from "pino";
import { FileSpool } from "./file-spool.js";

export const QUEUE_NAME = "secprof-observations";
/** Braces make the whole prefix a Redis Cluster hash tag: all queue keys share one slot. */
export const QUEUE_PREFIX = "{secprof}";
export const JOB_NAME = "obs";
export const BATCH_JOB_NAME = "obs-batch";
/** A batch job's payload stays below this (BullMQ keeps it in one Redis hash field). */
const BATCH_MAX_BYTES = 1 << 20;
const DEFAULT_BATCH_SIZE = 100;
/** One replay `addBulk` carries at most this much JSON, so that it fits in the send timeout. */
const REPLAY_MAX_BYTES = 4 << 20;

/** Splits `list`, in order, into chunks of at most `max` items and BATCH_MAX_BYTES of JSON. */
function chunks<T>(list: readonly T[], max: number, bytesOf: (x: T) => number): T[][] {
  const out: T[][] = [];
  let chunk: T[] = [];
  let bytes = 0;
  for (const x of list) {
    const b = bytesOf(x);
    if (chunk.length > 0 && (chunk.length >= max || bytes + b > BATCH_MAX_BYTES)) {
      out.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(x);
    bytes += b;
  }
  if (chunk.length > 0) out.push(chunk);
  return out;
}

/** The job for a chunk: one observation keeps its own job and id, several share a batch job. */
export function jobFor(chunk: readonly Obs[]): {
  name: string;
  data: Obs | ObservationBatch;
  opts: { jobId: string };
} {
  const [only] = chunk;
  if (chunk.length === 1 && only !== undefined)
    return { name: JOB_NAME, data: only, opts: { jobId: bullmqJobId(only) } };
  return {
    name: BATCH_JOB_NAME,
    data: { v: 1, batch: [...chunk] },
    opts: { jobId: bullmqBatchJobId(chunk) },
  };
}

/**
 * Jobs for a list of observations (replay, or any burst), in order: batch jobs of at most
 * `batchSize` observations and 1 MiB. Job options come from the queue's defaults.
 */
export function batchJobs(list: readonly Obs[], batchSize = DEFAULT_BATCH_SIZE): ReturnType<typeof jobFor>[] {
  return chunks(list, batchSize, (o) => JSON.stringify(o).length).map(jobFor);
}

/** Digest of the batch's observation ids: the same batch always gets the same job id. */
export function bullmqBatchJobId(batch: readonly Obs[]): string {
  const h = createHash("sha1");
  for (const o of batch) h.update(observationJobId(o)).update("\n");
  return `batch-${h.digest("hex")}`;
}

/**
 * `observationJobId` escaped for BullMQ, which rejects custom ids containing `:` (and all-digit
 * ids): `%` → `%25`, `:` → `%3A`. Injective, and never all digits.
 */
export function bullmqJobId(obs: Obs): string {
  return observationJobId(obs).replaceAll("%", "%25").replaceAll(":", "%3A");
}

/**
 * Bounded retention: completed jobs are deleted at once (keeping the last N costs Redis ~30% more per
 * job, measured in bench/pipeline.ts, and buys nothing: the id dedupes while the job waits, and a
 * redelivery after completion is absorbed by the merge); failed jobs are kept, bounded, for inspection.
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  removeOnComplete: true,
  removeOnFail: { count: 10_000, age: 7 * 24 * 3600 },
  // A transient merger-side failure (Redis hiccup) is retried; invalid payloads fail at once
  // (the worker throws UnrecoverableError).
  attempts: 12,
  backoff: { type: "exponential", delay: 500 },
};

export interface SpoolOptions {
  /** Observations held at most (default 10 000). */
  maxEntries?: number;
  /** Bytes of JSON held at most (default 64 MiB). */
  maxBytes?: number;
  /** NDJSON file that makes the spool survive a recorder crash; replayed by `open`. */
  file?: string;
}

export interface BullmqQueueOptions {
  /** `redis://…` URL or ioredis options; ignored when `client` is given. */
  connection?: string | RedisOptions;
  /** A ready-made client (e.g. a `Cluster`); it should have `enableOfflineQueue: false`. Not closed by us. */
  client?: Redis | Cluster;
  queueName?: string;
  prefix?: string;
  /** Adds outstanding at once before `send` waits (default 64). */
  maxInFlight?: number;
  /** An add that takes longer counts as failed and is spooled (default 2000 ms). */
  sendTimeoutMs?: number;
  spool?: SpoolOptions;
  /**
   * Observations per `addBulk` when replaying (default 1000; at most 4 MiB of JSON), in batch jobs of
   * `batchSize`.
   */
  replayBatch?: number;
  /** Observations per batch job in `sendMany` (default 100, at most OBSERVATION_BATCH_MAX). */
  batchSize?: number;
  /** Replay retry backoff (defaults 200 ms … 5 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
  jobOptions?: JobsOptions;
  logger?: Pick<Logger, "warn" | "info">;
}

export interface BullmqQueueStats {
  sent: number;
  spooled: number;
  replayed: number;
  spoolFull: number;
  sendFailures: number;
  inFlight: number;
  pending: number;
  pendingBytes: number;
  /** Invalid lines found in the spool file at start. */
  corruptSpoolLines: number;
  spoolFileErrors: number;
}

interface Entry {
  obs: Obs;
  json: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

class Timeout extends Error {
  constructor(ms: number) {
    super(`queue add timed out after ${ms} ms`);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(ms)), ms);
  });
  // A late rejection of `p` after the timeout must not become an unhandled rejection.
  p.catch(() => undefined);
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export class BullmqObservationQueue implements ObservationQueue {
  readonly queue: Queue;
  private readonly client: Redis | Cluster;
  private readonly ownsClient: boolean;
  private readonly spool: Entry[] = [];
  private spoolBytes = 0;
  private file: FileSpool | undefined;
  private inFlight = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  private replaying = false;
  private closed = false;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly replayBatch: number;
  private readonly batchSize: number;
  private readonly retryMin: number;
  private readonly retryMax: number;
  private readonly log: Pick<Logger, "warn" | "info"> | undefined;
  private readonly counters = {
    sent: 0,
    spooled: 0,
    replayed: 0,
    spoolFull: 0,
    sendFailures: 0,
    corruptSpoolLines: 0,
    spoolFileErrors: 0,
  };

  /** Opens the queue, loads the spool file (if any) and starts replaying it. */
  static async open(opts: BullmqQueueOptions): Promise<BullmqObservationQueue> {
    const q = new BullmqObservationQueue(opts);
    if (opts.spool?.file !== undefined) {
      const loaded = await FileSpool.open(opts.spool.file);
      q.file = loaded.spool;
      q.counters.corruptSpoolLines = loaded.corrupt;
      for (const obs of loaded.observations) {
        const json = JSON.stringify(obs);
        if (q.spool.length >= q.maxEntries || q.spoolBytes + json.length > q.maxBytes) {
          q.counters.spoolFull++;
          continue;
        }
        q.spool.push({ obs, json });
        q.spoolBytes += json.length;
      }
      if (loaded.corrupt > 0 || q.spool.length < loaded.observations.length)
        await q.file.rewrite(q.spool.map((e) => e.json));
      if (q.spool.length > 0) {
        q.log?.info({ pending: q.spool.length, corrupt: loaded.corrupt }, "replaying observation spool");
        q.kickReplay();
      }
    }
    return q;
  }

  private constructor(opts: BullmqQueueOptions) {
    this.maxInFlight = opts.maxInFlight ?? 64;
    this.timeoutMs = opts.sendTimeoutMs ?? 2000;
    this.maxEntries = opts.spool?.maxEntries ?? 10_000;
    this.maxBytes = opts.spool?.maxBytes ?? 64 * 2 ** 20;
    this.replayBatch = opts.replayBatch ?? 1000;
    this.batchSize = Math.min(OBSERVATION_BATCH_MAX, Math.max(1, opts.batchSize ?? DEFAULT_BATCH_SIZE));
    this.retryMin = opts.retryMinMs ?? 200;
    this.retryMax = opts.retryMaxMs ?? 5000;
    this.log = opts.logger;
    if (opts.client !== undefined) {
      this.client = opts.client;
      this.ownsClient = false;
    } else {
      const base: RedisOptions = {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: this.timeoutMs,
        retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
      };
      const c = opts.connection ?? "redis://127.0.0.1:6379";
      this.client = typeof c === "string" ? new Redis(c, base) : new Redis({ ...c, ...base });
      this.ownsClient = true;
    }
    // Connection errors are expected while Redis is away; they surface as spooling, not crashes.
    this.client.on("error", () => undefined);
    this.client.on("ready", () => this.kickReplay());
    this.queue = new Queue(opts.queueName ?? QUEUE_NAME, {
      connection: this.client,
      prefix: opts.prefix ?? QUEUE_PREFIX,
      defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, ...opts.jobOptions },
    });
    this.queue.on("error", (err) => this.log?.warn({ err: String(err) }, "observation queue error"));
  }

  async send(obs: Obs): Promise<SendResult> {
    if (this.closed) throw new Error("observation queue is closed");
    const parsed = Observation.parse(obs);
    if (this.spool.length > 0 || !this.isReady()) return this.toSpool(parsed);
    await this.acquire();
    try {
      // The state may have changed while we waited for a slot; keep the spool's order.
      if (this.spool.length > 0 || !this.isReady()) return await this.toSpool(parsed);
      try {
        await withTimeout(this.queue.add(JOB_NAME, parsed, { jobId: bullmqJobId(parsed) }), this.timeoutMs);
        this.counters.sent++;
        return { ok: true };
      } catch (err) {
        this.counters.sendFailures++;
        this.log?.warn({ err: String(err) }, "observation add failed; spooling");
        return await this.toSpool(parsed);
      }
    } finally {
      this.release();
    }
  }

  /**
   * Sends observations (e.g. one flush's) in batch jobs of at most `batchSize` observations and
   * 1 MiB; same guarantees as `send` for each. Results are in input order.
   */
  async sendMany(list: readonly Obs[]): Promise<SendResult[]> {
    if (this.closed) throw new Error("observation queue is closed");
    const parsed = list.map((o) => ({ obs: Observation.parse(o), bytes: JSON.stringify(o).length }));
    const out: SendResult[] = [];
    for (const chunk of chunks(parsed, this.batchSize, (p) => p.bytes))
      out.push(...(await this.sendBatch(chunk.map((p) => p.obs))));
    return out;
  }

  private async sendBatch(chunk: Obs[]): Promise<SendResult[]> {
    const [only] = chunk;
    if (chunk.length === 1 && only !== undefined) return [await this.send(only)];
    const spoolAll = async () => {
      const r: SendResult[] = [];
      for (const o of chunk) r.push(await this.toSpool(o));
      return r;
    };
    if (this.spool.length > 0 || !this.isReady()) return spoolAll();
    await this.acquire();
    try {
      if (this.spool.length > 0 || !this.isReady()) return await spoolAll();
      try {
        const job = jobFor(chunk);
        await withTimeout(this.queue.add(job.name, job.data, job.opts), this.timeoutMs);
        this.counters.sent += chunk.length;
        return chunk.map(() => ({ ok: true }));
      } catch (err) {
        this.counters.sendFailures++;
        this.log?.warn({ err: String(err) }, "observation batch add failed; spooling");
        return await spoolAll();
      }
    } finally {
      this.release();
    }
  }

  /** Resolves once BullMQ is connected (optional: `send` spools until then). */
  async waitUntilReady(): Promise<void> {
    await this.queue.waitUntilReady();
  }

  pending(): number {
    return this.spool.length;
  }

  stats(): BullmqQueueStats {
    return {
      ...this.counters,
      inFlight: this.inFlight,
      pending: this.spool.length,
      pendingBytes: this.spoolBytes,
    };
  }

  /** Resolves once the spool is empty and no add is outstanding (tests, graceful shutdown). */
  drained(): Promise<void> {
    if (this.spool.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Stops replaying; the spool file (if any) keeps what was not sent for the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.slotWaiters.splice(0)) w();
    await this.queue.close().catch(() => undefined);
    if (this.ownsClient) this.client.disconnect();
    await this.file?.close();
  }

  private isReady(): boolean {
    return this.client.status === "ready";
  }

  private async toSpool(obs: Obs): Promise<SendResult> {
    const json = JSON.stringify(obs);
    if (this.spool.length >= this.maxEntries || this.spoolBytes + json.length > this.maxBytes) {
      this.counters.spoolFull++;
      return { ok: false, reason: "spool_full" };
    }
    this.spool.push({ obs, json });
    this.spoolBytes += json.length;
    this.counters.spooled++;
    this.kickReplay();
    if (this.file !== undefined) {
      try {
        await this.file.append(json);
      } catch (err) {
        // Still spooled in memory; only crash-survival is lost for this entry.
        this.counters.spoolFileErrors++;
        this.log?.warn({ err: String(err) }, "spool file append failed");
      }
    }
    return { ok: false, reason: "spooled" };
  }

  private kickReplay(): void {
    if (this.replaying || this.closed || this.spool.length === 0) return;
    this.replaying = true;
    void this.replay().finally(() => {
      this.replaying = false;
      this.notifyDrained();
    });
  }

  private async replay(): Promise<void> {
    let delay = this.retryMin;
    while (!this.closed && this.spool.length > 0) {
      if (!this.isReady()) {
        await sleep(delay);
        delay = Math.min(delay * 2, this.retryMax);
        continue;
      }
      let n = 0;
      let bytes = 0;
      for (const e of this.spool) {
        if (n >= this.replayBatch || (n > 0 && bytes + e.json.length > REPLAY_MAX_BYTES)) break;
        n++;
        bytes += e.json.length;
      }
      const batch = this.spool.slice(0, n);
      const jobs = chunks(batch, this.batchSize, (e) => e.json.length).map((c) =>
        jobFor(c.map((e) => e.obs)),
      );
      try {
        // addBulk adds the queue's default job options to each.
        await withTimeout(this.queue.addBulk(jobs), this.timeoutMs);
      } catch (err) {
        this.counters.sendFailures++;
        this.log?.warn({ err: String(err), pending: this.spool.length }, "spool replay failed; retrying");
        await sleep(delay);
        delay = Math.min(delay * 2, this.retryMax);
        continue;
      }
      delay = this.retryMin;
      this.spool.splice(0, batch.length);
      for (const e of batch) this.spoolBytes -= e.json.length;
      this.counters.replayed += batch.length;
      await this.compactFile();
    }
  }

  /** Keeps the spool file from growing: empty it when drained, rewrite it when mostly replayed. */
  private async compactFile(): Promise<void> {
    const f = this.file;
    if (f === undefined) return;
    try {
      if (this.spool.length === 0) await f.clear();
      else if (f.lines > 2 * this.maxEntries) await f.rewrite(this.spool.map((e) => e.json));
    } catch (err) {
      this.counters.spoolFileErrors++;
      this.log?.warn({ err: String(err) }, "spool file compaction failed");
    }
  }

  private acquire(): Promise<void> {
    if (this.inFlight < this.maxInFlight) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.slotWaiters.push(() => {
        this.inFlight++;
        resolve();
      }),
    );
  }

  private release(): void {
    this.inFlight--;
    const next = this.slotWaiters.shift();
    if (next !== undefined) next();
    else this.notifyDrained();
  }

  private notifyDrained(): void {
    if (this.spool.length > 0 || this.inFlight > 0 || this.replaying) return;
    for (const w of this.drainWaiters.splice(0)) w();
  }
}
