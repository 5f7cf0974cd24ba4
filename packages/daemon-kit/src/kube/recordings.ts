import { randomBytes } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { API_GROUP, DNS_LABEL, invalidCombination, ProfileRecording } from "@secprof/core";
import { z } from "zod";
import { RecordingListeners, sortedRecordings } from "../recording-changes.js";
import { apiFailure, ResilientInformer, type RetryOptions } from "./informer.js";
import { KubeRest, seg } from "./rest.js";

/**
 * Watches ProfileRecordings (all namespaces, or one) and keeps the valid ones in memory.
 *
 * Objects are validated with core's `ProfileRecording` schema, which also folds v1alpha1's
 * lowercase enums (`logs`, `bpf`, `containers`) into v1's spelling. An object is invalid when
 * - it fails the schema (`problem: "schema"`): counted and kept in `invalid()` with the reason;
 * - its name is not a DNS-1123 label (`"name"`): the name becomes a label value on the profiles
 *   (spo.md §1.1);
 * - its kind × recorder pair is not allowed (`"combination"`, core `invalidCombination`).
 *
 * For the last two (the object is well-formed, so it can be told so) the watcher sets the
 * condition `Ready=False, reason InvalidRecording` through the status subresource and emits one
 * Warning Event `InvalidRecording`, once per generation: the status write is a PUT carrying the
 * resourceVersion, and the condition records `observedGeneration`, so neither the watcher's own
 * status write (a MODIFIED event, same generation) nor a restart nor several replicas racing
 * (all but one get 409 and then see the condition) repeat it. When a later generation is valid
 * again the condition flips to `Ready=True, reason RecordingValid` (no event).
 *
 * The CRD's status schema must declare `conditions`, or a structural schema prunes them; the
 * in-memory (uid, generation) guard still keeps one process from looping then.
 */

export const INVALID_RECORDING_REASON = "InvalidRecording";
export const VALID_RECORDING_REASON = "RecordingValid";
export const RECORDING_PLURAL = "profilerecordings";

export type ProfileRecordingProblem = "schema" | "name" | "combination";

export interface InvalidProfileRecording {
  /** Empty when the object's metadata was unreadable. */
  namespace: string;
  name: string;
  uid?: string;
  generation?: number;
  problem: ProfileRecordingProblem;
  message: string;
}

export type ProfileRecordingChange =
  | { type: "upsert"; recording: ProfileRecording }
  | { type: "delete"; recording: ProfileRecording };

export interface RecordingWatcherStats {
  valid: number;
  invalid: number;
  /** Distinct invalid (object, generation) pairs seen since start. */
  invalidObserved: number;
  conditionsWritten: number;
  eventsEmitted: number;
  reportFailures: number;
}

export interface RecordingWatcherOptions {
  kubeConfig: KubeConfig;
  /** Watch one namespace only (SPO's RESTRICT_TO_NAMESPACE); default all namespaces. */
  namespace?: string;
  /** Served version to read. Default "v1". */
  version?: "v1" | "v1alpha1";
  /** Write the InvalidRecording condition and Event. Default true. */
  report?: boolean;
  /** Event `source.component` / `reportingComponent`. Default "secprof". */
  component?: string;
  /** Event `reportingInstance` (e.g. the node name). */
  instance?: string;
  /** Attempts of the status write when it conflicts with other writers. Default 4. */
  maxStatusAttempts?: number;
  retry?: RetryOptions;
  onError?: (err: unknown, during: "watch" | "report" | "listener") => void;
  now?: () => Date;
}

const Condition = z.looseObject({
  type: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  message: z.string().optional(),
  observedGeneration: z.number().optional(),
  lastTransitionTime: z.string().optional(),
});
type Condition = z.infer<typeof Condition>;
/** The parts of a wire object the status write needs, whatever the spec holds. */
const RawRecording = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    generation: z.number().optional(),
    resourceVersion: z.string().optional(),
    deletionTimestamp: z.string().optional(),
  }),
  status: z.looseObject({ conditions: z.array(Condition).optional() }).optional(),
});
type RawRecording = z.infer<typeof RawRecording>;

interface DesiredCondition {
  status: "True" | "False";
  reason: string;
  message: string;
  /** Emit the Warning event when this is written. */
  event: boolean;
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class RecordingWatcher {
  readonly #opts: RecordingWatcherOptions;
  readonly #version: string;
  readonly #rest: KubeRest;
  readonly #informer: ResilientInformer;
  readonly #valid = new Map<string, ProfileRecording>();
  readonly #invalid = new Map<string, InvalidProfileRecording>();
  readonly #observed = new Set<string>();
  /** uid → generation already reported (or being reported) by this process. */
  readonly #handled = new Map<string, number>();
  readonly #chains = new Map<string, Promise<void>>();
  readonly #listeners = new RecordingListeners((err) => this.#opts.onError?.(err, "listener"));
  #unnamed = 0;
  #conditionsWritten = 0;
  #eventsEmitted = 0;
  #reportFailures = 0;

  constructor(opts: RecordingWatcherOptions) {
    this.#opts = opts;
    this.#version = opts.version ?? "v1";
    this.#rest = new KubeRest(opts.kubeConfig);
    const ns = opts.namespace;
    const path =
      ns === undefined
        ? `/apis/${API_GROUP}/${this.#version}/${RECORDING_PLURAL}`
        : `/apis/${API_GROUP}/${this.#version}/namespaces/${seg(ns)}/${RECORDING_PLURAL}`;
    this.#informer = new ResilientInformer({
      kubeConfig: opts.kubeConfig,
      path,
      list: () => this.#rest.get(path),
      ...(opts.retry === undefined ? {} : { retry: opts.retry }),
      onError: (err) => opts.onError?.(err, "watch"),
      handlers: { upsert: (o) => this.#upsert(o), remove: (o) => this.#remove(o) },
    });
  }

  start(): Promise<void> {
    return this.#informer.start();
  }

  async stop(): Promise<void> {
    await this.#informer.stop();
    await this.idle();
  }

  get synced(): boolean {
    return this.#informer.synced;
  }

  /** Valid recordings (including ones being deleted: the merger acts on those), sorted by ns/name. */
  list(namespace?: string): ProfileRecording[] {
    return sortedRecordings(this.#valid, namespace);
  }

  get(namespace: string, name: string): ProfileRecording | undefined {
    return this.#valid.get(key(namespace, name));
  }

  /** Invalid objects currently in the API, with the reason. */
  invalid(): InvalidProfileRecording[] {
    return [...this.#invalid.values()];
  }

  get stats(): RecordingWatcherStats {
    return {
      valid: this.#valid.size,
      invalid: this.#invalid.size,
      invalidObserved: this.#observed.size,
      conditionsWritten: this.#conditionsWritten,
      eventsEmitted: this.#eventsEmitted,
      reportFailures: this.#reportFailures,
    };
  }

  /** Valid recordings added/changed/removed (a recording turning invalid is a delete). */
  subscribe(listener: (c: ProfileRecordingChange) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** Resolves when every status write / event in flight has finished. */
  async idle(): Promise<void> {
    while (this.#chains.size > 0) await Promise.all([...this.#chains.values()]);
  }

  #upsert(raw: unknown): void {
    const meta = RawRecording.safeParse(raw);
    const ns = meta.success ? (meta.data.metadata.namespace ?? "") : "";
    const name = meta.success ? meta.data.metadata.name : "";
    const k = meta.success ? key(ns, name) : `<unnamed-${++this.#unnamed}>`;
    const parsed = ProfileRecording.safeParse(raw);
    if (!parsed.success) {
      const message = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
      this.#markInvalid(k, meta.success ? meta.data : undefined, "schema", message);
      return;
    }
    const rec = parsed.data;
    const problem = recordingProblem(rec);
    const rawObj = meta.success ? meta.data : undefined;
    if (problem !== undefined) {
      this.#markInvalid(k, rawObj, problem.problem, problem.message);
      if (rawObj !== undefined)
        this.#maybeReport(rawObj, {
          status: "False",
          reason: INVALID_RECORDING_REASON,
          message: problem.message,
          event: true,
        });
      return;
    }
    this.#invalid.delete(k);
    this.#valid.set(k, rec);
    this.#listeners.notify({ type: "upsert", recording: rec });
    // Valid again after having been reported invalid: say so on the object.
    const ready = rawObj?.status?.conditions?.find((c) => c.type === "Ready");
    if (rawObj !== undefined && ready?.reason === INVALID_RECORDING_REASON)
      this.#maybeReport(rawObj, {
        status: "True",
        reason: VALID_RECORDING_REASON,
        message: "the recording is valid",
        event: false,
      });
  }

  #remove(raw: unknown): void {
    const meta = RawRecording.safeParse(raw);
    if (!meta.success) return;
    const k = key(meta.data.metadata.namespace ?? "", meta.data.metadata.name);
    const was = this.#valid.get(k);
    this.#valid.delete(k);
    this.#invalid.delete(k);
    if (meta.data.metadata.uid !== undefined) this.#handled.delete(meta.data.metadata.uid);
    if (was !== undefined) this.#listeners.notify({ type: "delete", recording: was });
  }

  #markInvalid(
    k: string,
    raw: RawRecording | undefined,
    problem: ProfileRecordingProblem,
    message: string,
  ): void {
    const entry: InvalidProfileRecording = {
      namespace: raw?.metadata.namespace ?? "",
      name: raw?.metadata.name ?? "",
      problem,
      message,
    };
    if (raw?.metadata.uid !== undefined) entry.uid = raw.metadata.uid;
    if (raw?.metadata.generation !== undefined) entry.generation = raw.metadata.generation;
    this.#invalid.set(k, entry);
    this.#observed.add(`${k}|${entry.uid ?? ""}|${entry.generation ?? ""}|${problem}`);
    const was = this.#valid.get(k);
    this.#valid.delete(k);
    if (was !== undefined) this.#listeners.notify({ type: "delete", recording: was });
  }

  // --- status condition + event -----------------------------------------------------------------

  #maybeReport(raw: RawRecording, want: DesiredCondition): void {
    if (this.#opts.report === false) return;
    const { uid, generation, namespace, deletionTimestamp } = raw.metadata;
    if (uid === undefined || generation === undefined || namespace === undefined) return;
    if (deletionTimestamp !== undefined) return;
    if (this.#handled.get(uid) === generation) return;
    if (hasCondition(raw, generation, want)) {
      this.#handled.set(uid, generation);
      return;
    }
    this.#handled.set(uid, generation);
    const k = key(namespace, raw.metadata.name);
    const prev = this.#chains.get(k) ?? Promise.resolve();
    const next = prev
      .then(() => this.#report(raw, uid, generation, namespace, want))
      .catch((err: unknown) => {
        this.#reportFailures += 1;
        this.#opts.onError?.(err, "report");
      })
      .finally(() => {
        if (this.#chains.get(k) === next) this.#chains.delete(k);
      });
    this.#chains.set(k, next);
  }

  async #report(
    first: RawRecording,
    uid: string,
    generation: number,
    namespace: string,
    want: DesiredCondition,
  ): Promise<void> {
    const name = first.metadata.name;
    const path = `/apis/${API_GROUP}/${this.#version}/namespaces/${seg(namespace)}/${RECORDING_PLURAL}/${seg(name)}`;
    const attempts = this.#opts.maxStatusAttempts ?? 4;
    let current: RawRecording = first;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) {
        let fetched: unknown;
        try {
          fetched = await this.#rest.get(path);
        } catch (err) {
          if (apiFailure(err)?.code === 404) return;
          throw err;
        }
        current = RawRecording.parse(fetched);
      }
      const m = current.metadata;
      // Superseded (recreated, or a newer generation whose own event will be handled) or going away.
      if (m.uid !== uid || m.generation !== generation || m.deletionTimestamp !== undefined) return;
      if (hasCondition(current, generation, want)) return;
      const body = {
        ...current,
        status: { ...(current.status ?? {}), conditions: this.#conditions(current, generation, want) },
      };
      try {
        await this.#rest.put(`${path}/status`, body);
      } catch (err) {
        const failure = apiFailure(err);
        if (failure?.code === 409) continue;
        if (failure?.code === 404) return;
        throw err;
      }
      this.#conditionsWritten += 1;
      if (want.event) await this.#event(current, want.message);
      return;
    }
    this.#reportFailures += 1;
  }

  #conditions(raw: RawRecording, generation: number, want: DesiredCondition): Condition[] {
    const now = (this.#opts.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, "Z");
    const others = (raw.status?.conditions ?? []).filter((c) => c.type !== "Ready");
    const old = raw.status?.conditions?.find((c) => c.type === "Ready");
    const lastTransitionTime =
      old?.status === want.status && old.lastTransitionTime !== undefined ? old.lastTransitionTime : now;
    return [
      ...others,
      {
        type: "Ready",
        status: want.status,
        observedGeneration: generation,
        lastTransitionTime,
        reason: want.reason,
        message: want.message,
      },
    ];
  }

  async #event(raw: RawRecording, message: string): Promise<void> {
    const m = raw.metadata;
    const namespace = m.namespace ?? "default";
    const component = this.#opts.component ?? "secprof";
    const now = this.#opts.now?.() ?? new Date();
    const suffix = `${now.getTime().toString(16)}${randomBytes(4).toString("hex")}`;
    await this.#rest.post(`/api/v1/namespaces/${seg(namespace)}/events`, {
      metadata: { name: `${m.name.slice(0, 200)}.${suffix}`, namespace },
      involvedObject: {
        apiVersion: raw.apiVersion ?? `${API_GROUP}/${this.#version}`,
        kind: "ProfileRecording",
        name: m.name,
        namespace,
        ...(m.uid === undefined ? {} : { uid: m.uid }),
        ...(m.resourceVersion === undefined ? {} : { resourceVersion: m.resourceVersion }),
      },
      reason: INVALID_RECORDING_REASON,
      message,
      type: "Warning",
      source: { component, ...(this.#opts.instance === undefined ? {} : { host: this.#opts.instance }) },
      reportingComponent: component,
      ...(this.#opts.instance === undefined ? {} : { reportingInstance: this.#opts.instance }),
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
    this.#eventsEmitted += 1;
  }
}

/** Why a schema-valid recording cannot be recorded (name, kind × recorder), or undefined. */
export function recordingProblem(
  rec: ProfileRecording,
): { problem: Exclude<ProfileRecordingProblem, "schema">; message: string } | undefined {
  const name = rec.metadata.name;
  if (!DNS_LABEL.test(name) || name.length > 63)
    return {
      problem: "name",
      message: `recording name "${name}" is not a DNS-1123 label (at most 63 lowercase letters, digits and '-'); it becomes a label value on the recorded profiles`,
    };
  const combination = invalidCombination(rec.spec);
  return combination === undefined ? undefined : { problem: "combination", message: combination };
}

function hasCondition(raw: RawRecording, generation: number, want: DesiredCondition): boolean {
  const c = raw.status?.conditions?.find((x) => x.type === "Ready");
  return (
    c !== undefined &&
    c.status === want.status &&
    c.reason === want.reason &&
    c.message === want.message &&
    c.observedGeneration === generation
  );
}
