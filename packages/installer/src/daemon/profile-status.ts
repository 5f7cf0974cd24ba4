import { z } from "zod";
import { aggregateState, type NodeProfileStatus, ProfileState, readyCondition } from "../status.js";

/**
 * The aggregated status a profile object shows (SPO's `status.status` and `Ready` condition):
 * the lowest state of all nodes' statuses. Every node computes the same value from the same
 * ProfileNodeStatus objects, so concurrent writers converge; nothing is written when the object
 * already says it (no write loop through our own watch).
 */

const Condition = z.looseObject({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
});
const CurrentStatus = z.looseObject({
  status: z.string().optional(),
  conditions: z.array(Condition).optional(),
  localhostProfile: z.string().optional(),
});

export interface NodeState {
  node: string;
  state: string;
  /** `Reason: message` as in the ProfileNodeStatus. */
  message: string;
}

export function profileStatusPatch(
  current: unknown,
  nodes: readonly NodeState[],
  mine: NodeProfileStatus | undefined,
  now: () => Date = () => new Date(),
): Record<string, unknown> | undefined {
  const valid = nodes.filter((n) => ProfileState.safeParse(n.state).success);
  const state = aggregateState(valid.map((n) => n.state as ProfileState));
  if (state === undefined) return undefined;
  const cur = CurrentStatus.safeParse(current ?? {});
  const have = cur.success ? cur.data : {};
  const ready = readyCondition(state);
  // The first node (by name) in the aggregated state says why: the same text on every node.
  const worst = valid.filter((n) => n.state === state).sort((a, b) => (a.node < b.node ? -1 : 1))[0];
  const message = `${state} on ${valid.length} node(s); ${worst?.node ?? "?"}: ${worst?.message ?? ""}`.slice(
    0,
    1024,
  );
  const oldReady = have.conditions?.find((c) => c.type === "Ready");
  const localhostProfile = mine?.localhostProfile ?? have.localhostProfile;
  if (
    have.status === state &&
    oldReady?.status === ready.status &&
    oldReady.reason === ready.reason &&
    oldReady.message === message &&
    have.localhostProfile === localhostProfile
  )
    return undefined;
  const condition = {
    type: "Ready",
    status: ready.status,
    reason: ready.reason,
    message,
    lastTransitionTime:
      oldReady?.status === ready.status && oldReady.lastTransitionTime !== undefined
        ? oldReady.lastTransitionTime
        : now().toISOString(),
  };
  return {
    ...have,
    status: state,
    conditions: [...(have.conditions ?? []).filter((c) => c.type !== "Ready"), condition],
    ...(localhostProfile === undefined ? {} : { localhostProfile }),
  };
}
