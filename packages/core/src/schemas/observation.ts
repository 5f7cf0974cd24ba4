import { z } from "zod";
import { ArchNameSchema } from "./events.js";
import { Target } from "./target.js";

export const AvcTuple = z.object({
  scontextType: z.string().min(1).max(256),
  tcontextType: z.string().min(1).max(256),
  tclass: z.string().min(1).max(64),
  perms: z.array(z.string().min(1).max(64)).max(64),
});

export const AppArmorFacts = z.object({
  executables: z.array(z.string().max(4096)).max(10_000),
  /** Files mapped executable (mmap PROT_EXEC): SPO's `allowedLibraries`. Optional for older observations. */
  libraries: z.array(z.string().max(4096)).max(10_000).optional(),
  readPaths: z.array(z.string().max(4096)).max(10_000),
  writePaths: z.array(z.string().max(4096)).max(10_000),
  capabilities: z.array(z.string().max(32)).max(64),
  network: z.array(z.enum(["tcp", "udp", "raw", "unix"])).max(8),
});

/** Counters of what a recorder could not see; any non-zero value marks a profile incomplete. */
export const LossCounters = z.object({
  kernelLost: z.number().int().nonnegative(),
  parserDropped: z.number().int().nonnegative(),
  attributionMisses: z.number().int().nonnegative(),
  truncated: z.number().int().nonnegative(),
});
export type LossCounters = z.infer<typeof LossCounters>;

/** The node a recorder runs on, as `uname -r` and `uname -m` report it (shown in bundle manifests). */
export const HostFacts = z.object({
  kernel: z.string().min(1).max(256),
  arch: z.string().min(1).max(64),
});
export type HostFacts = z.infer<typeof HostFacts>;

/**
 * What a recorder sends: a set-delta for one target. Deltas only ever add facts, so applying
 * the same observation twice, or several in any order, yields the same state.
 */
export const Observation = z.object({
  v: z.literal(1),
  target: Target,
  recorder: z.string().max(253),
  seq: z.number().int().nonnegative(),
  at: z.number().int().nonnegative(),
  delta: z.object({
    syscalls: z.partialRecord(ArchNameSchema, z.array(z.string().min(1).max(64)).max(1024)),
    avc: z.array(AvcTuple).max(10_000),
    apparmor: AppArmorFacts.optional(),
  }),
  loss: LossCounters,
  /** The target's pod ended (deleted, Succeeded, Failed): the merger writes its profile now. */
  ended: z.boolean().optional(),
  /** The recorder's node (optional: older recorders do not send it). */
  host: HostFacts.optional(),
});
export type Observation = z.infer<typeof Observation>;

/** Observations at most in one queue job. */
export const OBSERVATION_BATCH_MAX = 256;

/**
 * Several observations (of different targets, from one flush) in one queue job: the merger applies
 * each one as if it came alone, and pays the queue's per-job cost once for all of them.
 */
export const ObservationBatch = z.object({
  v: z.literal(1),
  batch: z.array(Observation).min(1).max(OBSERVATION_BATCH_MAX),
});
export type ObservationBatch = z.infer<typeof ObservationBatch>;
