import {
  type PodFacts,
  type ProfileRecording,
  profileNameFor,
  type RecorderKind,
  replicaSuffix,
  select,
  type Target,
} from "@secprof/core";

/** What attribution knows about the container an event came from. */
export interface ContainerFacts {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  containerId: string;
  generateName?: string;
  facts: PodFacts;
}

/**
 * The targets one container's events feed: one per recording that selects it with this
 * recorder. Names follow SPO (§1.6); with mergeStrategy Containers every instance is a partial,
 * and a fixed-name pod takes its pod name as the replica suffix, so a partial never carries the
 * merged profile's name (SPO #3328).
 */
export function targetsFor(
  c: ContainerFacts,
  recordings: readonly ProfileRecording[],
  recorder: RecorderKind,
  node: string,
): Target[] {
  const out: Target[] = [];
  for (const rec of recordings) {
    if (rec.metadata.namespace !== c.namespace || rec.spec.recorder !== recorder) continue;
    const sel = select(rec, c.facts);
    if (!sel.selected || !sel.containers.includes(c.container)) continue;
    let replica = replicaSuffix(c.pod, c.generateName);
    if (replica === "" && rec.spec.mergeStrategy === "Containers") replica = c.pod;
    out.push({
      recording: rec.metadata.name,
      namespace: c.namespace,
      pod: c.pod,
      podUid: c.podUid,
      container: c.container,
      containerId: c.containerId,
      node,
      kind: rec.spec.kind,
      replica,
      profileName: profileNameFor(rec.metadata.name, c.container, replica),
    });
  }
  return out;
}
