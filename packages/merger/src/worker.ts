/**
 * The merger's BullMQ worker: takes observation jobs off `secprof-observations` and folds them into
 * ProfileState. Any number of these run, unprivileged.
 *
 * - Payloads are validated with zod. An invalid one fails its job at once with UnrecoverableError
 *   and a readable reason (never retried), and is counted.
 * - Delivery is at-least-once (stalled jobs are re-run after a crash or a lock loss); that is safe
 *   because `ProfileState.apply` is a join: a job applied twice, or re-run after a crash mid-apply,
 *   converges to the same state.
 * - A failing apply (Redis away) throws a normal error and BullMQ retries it with the job's backoff.
 * - A job holds one Observation or an ObservationBatch (one recorder flush): a batch's observations
 *   are applied at once (RedisProfileState folds the applies of one tick into one script call per
 *   recording), and BullMQ's per-job cost — two Lua scripts and a round trip — is paid once.
 *   Retrying a batch re-applies all of it, which the join absorbs.
 */
import { Observation, ObservationBatch, type ProfileState } from "@secprof/core";
import { type ConnectionOptions, type Job, UnrecoverableError, Worker, type WorkerOptions } from "bullmq";
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import { z } from "zod";

/** Must match the recorder's queue (`packages/recorder/src/queue/bullmq-queue.ts`). */
export const OBSERVATION_QUEUE_NAME = "secprof-observations";
export const OBSERVATION_QUEUE_PREFIX = "{secprof}";

export type JobOutcome = "applied" | "invalid" | "failed";

export interface MergerWorkerStats {
  /** Observations applied (a batch job counts each of its observations). */
  applied: number;
  invalid: number;
  failed: number;
}

/** Thrown (as UnrecoverableError) for payloads that are not an Observation v1. */
export class InvalidObservationError extends UnrecoverableError {
  constructor(
    readonly jobId: string | undefined,
    readonly issues: string,
  ) {
    super(`invalid observation payload (job ${jobId ?? "?"}): ${issues}`);
    // BullMQ also recognises unrecoverable errors by name (e.g. from sandboxed processors).
    this.name = "UnrecoverableError";
  }
}

/**
 * The processor, without BullMQ: validate, then apply. Exported so it is unit-testable and usable
 * with any job source.
 */
export function observationProcessor(
  state: ProfileState,
  onOutcome: (o: JobOutcome, observations: number) => void = () => undefined,
): (job: Pick<Job, "id" | "data">) => Promise<void> {
  return async (job) => {
    // Told apart by the `batch` key (not a union), so that errors name the offending field.
    const isBatch = typeof job.data === "object" && job.data !== null && "batch" in job.data;
    const parsed = isBatch ? ObservationBatch.safeParse(job.data) : Observation.safeParse(job.data);
    if (!parsed.success) {
      onOutcome("invalid", 1);
      throw new InvalidObservationError(job.id, z.prettifyError(parsed.error));
    }
    const list = "batch" in parsed.data ? parsed.data.batch : [parsed.data];
    try {
      await Promise.all(list.map((o) => state.apply(o)));
    } catch (err) {
      onOutcome("failed", list.length);
      throw err;
    }
    onOutcome("applied", list.length);
  };
}

export interface MergerWorkerOptions {
  /** BullMQ connection (ioredis options or instance). Workers need `maxRetriesPerRequest: null`. */
  connection: ConnectionOptions;
  state: ProfileState;
  /**
   * Jobs processed at once (default 16). Recorders send batch jobs of up to 100 observations, all
   * applied at once: 100 such jobs meant 10 000 applies in flight, and the garbage they make cost
   * more than the overlap gained (bench/pipeline.ts, worker CPU per delta: 47–61 µs at 4–16 jobs,
   * 74 µs at 100). Single-observation jobs (old recorders, spool replay) were best near 100
   * (perf.md §3.2); they are the exception now.
   */
  concurrency?: number;
  queueName?: string;
  prefix?: string;
  /** Registers `secprof_merger_jobs_total{outcome}` here. */
  registry?: Registry;
  logger?: Pick<Logger, "warn" | "error">;
  /** Anything else for the BullMQ Worker (lockDuration, stalledInterval, …). */
  workerOptions?: Partial<WorkerOptions>;
}

export interface MergerWorker {
  readonly worker: Worker;
  stats(): MergerWorkerStats;
  /** Graceful: waits for active jobs (SIGTERM path). */
  close(): Promise<void>;
}

/**
 * Connection options (not a ready client) get ioredis auto-pipelining unless they say otherwise:
 * the ~100 concurrent moveToFinished calls then share socket writes (+30–70 % jobs/s measured in
 * bench/pipeline.ts on the shared 2-vCPU VM).
 */
function withAutoPipelining(c: ConnectionOptions): ConnectionOptions {
  const isClient = typeof (c as { duplicate?: unknown }).duplicate === "function";
  return isClient ? c : ({ enableAutoPipelining: true, ...c } as ConnectionOptions);
}

export function createMergerWorker(opts: MergerWorkerOptions): MergerWorker {
  const counts: MergerWorkerStats = { applied: 0, invalid: 0, failed: 0 };
  const metric =
    opts.registry === undefined
      ? undefined
      : new Counter({
          name: "secprof_merger_jobs_total",
          help: "Observations processed by the merger, by outcome (applied, invalid payload, failed apply).",
          labelNames: ["outcome"],
          registers: [opts.registry],
        });
  const processor = observationProcessor(opts.state, (o, n) => {
    counts[o] += n;
    metric?.inc({ outcome: o }, n);
  });
  const worker = new Worker(opts.queueName ?? OBSERVATION_QUEUE_NAME, processor, {
    connection: withAutoPipelining(opts.connection),
    prefix: opts.prefix ?? OBSERVATION_QUEUE_PREFIX,
    concurrency: opts.concurrency ?? 16,
    // Defaults for jobs whose producer set none; the recorder sets its own.
    removeOnComplete: { count: 0 },
    removeOnFail: { count: 10_000, age: 7 * 24 * 3600 },
    ...opts.workerOptions,
  });
  worker.on("failed", (job, err) => {
    if (err instanceof UnrecoverableError || err.name === "UnrecoverableError")
      opts.logger?.warn({ jobId: job?.id, reason: err.message }, "observation job rejected");
    else
      opts.logger?.warn(
        { jobId: job?.id, err: err.message, attempt: job?.attemptsMade },
        "observation apply failed",
      );
  });
  worker.on("error", (err) => opts.logger?.error({ err: err.message }, "merger worker error"));
  return {
    worker,
    stats: () => ({ ...counts }),
    close: () => worker.close(),
  };
}
