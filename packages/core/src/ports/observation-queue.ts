import type { Observation } from "../schemas/observation.js";

export type SendResult = { ok: true } | { ok: false; reason: "spooled" | "spool_full" };

/**
 * Where recorders send deltas. `send` never blocks on the network: while the queue is
 * unreachable observations go to a bounded spool and are replayed in order later. A full spool
 * is reported, never hidden (the caller marks the target incomplete).
 */
export interface ObservationQueue {
  send(obs: Observation): Promise<SendResult>;
  /** Observations waiting in the spool. */
  pending(): number;
  close(): Promise<void>;
}

/** Job ids make redelivery harmless: the same observation always gets the same id. */
export const observationJobId = (obs: Observation): string =>
  `${obs.recorder}:${obs.target.namespace}:${obs.target.profileName}:${obs.seq}`;
