import type { HostFacts, LossCounters, Observation } from "../schemas/observation.js";
import type { Target } from "../schemas/target.js";
import type { ArchName } from "../syscalls/index.js";

/** Everything observed for one target so far. */
export interface TargetState {
  target: Target;
  syscalls: Partial<Record<ArchName, string[]>>;
  /** Canonical JSON of each AVC tuple. */
  avc: string[];
  apparmor: {
    executables: string[];
    /** Files mapped executable (SPO's allowedLibraries); absent in states of older mergers. */
    libraries?: string[];
    readPaths: string[];
    writePaths: string[];
    capabilities: string[];
    network: string[];
  };
  /** Per recorder, the highest cumulative loss counters it reported. */
  loss: Record<string, LossCounters>;
  /** Recorders (node names) that contributed. */
  recorders: string[];
  /** Per recorder, its node's kernel and arch (the last reported; absent when none was). */
  hosts?: Record<string, HostFacts>;
  firstAt: number;
  lastAt: number;
}

/**
 * Recording state. `apply` is a set union: applying an observation twice, or observations in any
 * order, yields the same state. The Redis adapter survives restarts of every process.
 */
export interface ProfileState {
  apply(obs: Observation): Promise<void>;
  get(recordingKey: string, profileName: string): Promise<TargetState | undefined>;
  /** Targets of one recording (`<namespace>/<recording>`). */
  list(recordingKey: string): Promise<TargetState[]>;
  /** Forget a target once its profile is written (or the recording is gone). */
  remove(recordingKey: string, profileName: string): Promise<void>;
}

export const recordingKey = (t: Pick<Target, "namespace" | "recording">): string =>
  `${t.namespace}/${t.recording}`;
