import { constants, type FSWatcher, watch } from "node:fs";
import { open, readdir } from "node:fs/promises";
import path from "node:path";
import { ProfileRecording } from "@secprof/core";
import { parseAllDocuments } from "yaml";
import {
  type ProfileRecordingChange,
  type ProfileRecordingProblem,
  recordingProblem,
} from "../kube/recordings.js";
import { RecordingListeners, sortedRecordings } from "../recording-changes.js";
import type { RecordingView } from "./recording-view.js";

/**
 * Host mode's ProfileRecordings: the manifests (SPO v1 YAML, unchanged; v1alpha1 enums folded as
 * in the cluster) in one directory instead of the Kubernetes API.
 *
 * - Every `*.yaml`, `*.yml` and `*.json` file that is not a dotfile is read, each possibly holding
 *   several documents. A document is validated like a watched object (core's `ProfileRecording`
 *   schema, then `recordingProblem`); a recording without `metadata.namespace` lives in
 *   `default`. Symlinks, other file types and files over 1 MiB are refused.
 * - A file that is not YAML, a document that fails validation and a second document with the same
 *   namespace/name (the first file in name order wins) are listed in `invalid()`, counted in
 *   `stats`, and reported once per change through `onInvalid`; they never stop the watcher.
 * - Changes are picked up through `fs.watch` on the directory (debounced) and a periodic rescan
 *   (`fs.watch` misses events on some file systems and bind mounts). A recording whose file is
 *   deleted, or that turns invalid, is a delete for `subscribe` listeners, as a deleted object is
 *   in the cluster (the merger merges `mergeStrategy: Containers` partials on it).
 * - A directory that cannot be read keeps the last good view and reports `onError`: a transient
 *   failure must not look like every recording being deleted.
 */

export type DirRecordingProblem = ProfileRecordingProblem | "yaml" | "file" | "duplicate";

export interface InvalidRecordingFile {
  /** File, with `#<n>` for the n-th document of a multi-document file. */
  source: string;
  problem: DirRecordingProblem;
  message: string;
}

export interface DirRecordingWatcherStats {
  valid: number;
  invalid: number;
  scans: number;
  scanFailures: number;
}

export interface DirRecordingWatcherOptions {
  dir: string;
  /** Periodic rescan. Default 5 s. */
  rescanMs?: number;
  /** Debounce of `fs.watch` events. Default 50 ms. */
  debounceMs?: number;
  onInvalid?: (invalid: InvalidRecordingFile) => void;
  onError?: (err: unknown, during: "scan" | "listener") => void;
}

const MAX_FILE = 1024 * 1024;
const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class DirRecordingWatcher implements RecordingView {
  readonly #opts: DirRecordingWatcherOptions;
  #valid = new Map<string, ProfileRecording>();
  #invalid: InvalidRecordingFile[] = [];
  /** What `onInvalid` was last told, so a rescan does not repeat it. */
  #reported = new Set<string>();
  readonly #listeners = new RecordingListeners((err) => this.#opts.onError?.(err, "listener"));
  #synced = false;
  #scans = 0;
  #scanFailures = 0;
  #timer: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #watcher: FSWatcher | undefined;
  /** The scan in flight, and whether another one was asked for meanwhile. */
  #scanning: Promise<void> | undefined;
  #again = false;

  constructor(opts: DirRecordingWatcherOptions) {
    this.#opts = opts;
  }

  /** First scan (fails when the directory cannot be read), then watch and rescan. */
  async start(): Promise<void> {
    await this.#scan();
    this.#synced = true;
    try {
      this.#watcher = watch(this.#opts.dir, () => this.#soon());
      this.#watcher.on("error", (err) => this.#opts.onError?.(err, "scan"));
    } catch (err) {
      this.#opts.onError?.(err, "scan"); // the periodic rescan still works
    }
    this.#timer = setInterval(() => this.rescan(), this.#opts.rescanMs ?? 5000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#watcher?.close();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#debounce !== undefined) clearTimeout(this.#debounce);
    await this.#scanning;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Valid recordings, sorted by namespace/name. */
  list(namespace?: string): ProfileRecording[] {
    return sortedRecordings(this.#valid, namespace);
  }

  get(namespace: string, name: string): ProfileRecording | undefined {
    return this.#valid.get(key(namespace, name));
  }

  invalid(): InvalidRecordingFile[] {
    return [...this.#invalid];
  }

  get stats(): DirRecordingWatcherStats {
    return {
      valid: this.#valid.size,
      invalid: this.#invalid.length,
      scans: this.#scans,
      scanFailures: this.#scanFailures,
    };
  }

  subscribe(listener: (c: ProfileRecordingChange) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** Reads the directory again now; resolves when the view is up to date. */
  rescan(): Promise<void> {
    if (this.#scanning !== undefined) {
      this.#again = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      do {
        this.#again = false;
        await this.#scan().catch((err: unknown) => this.#opts.onError?.(err, "scan"));
      } while (this.#again);
    })().finally(() => {
      this.#scanning = undefined;
    });
    return this.#scanning;
  }

  #soon(): void {
    if (this.#debounce !== undefined) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.rescan(), this.#opts.debounceMs ?? 50);
  }

  async #scan(): Promise<void> {
    this.#scans += 1;
    let names: string[];
    try {
      names = (await readdir(this.#opts.dir))
        .filter((n) => !n.startsWith(".") && /\.(ya?ml|json)$/.test(n))
        .sort();
    } catch (err) {
      this.#scanFailures += 1;
      throw err;
    }
    const valid = new Map<string, ProfileRecording>();
    const invalid: InvalidRecordingFile[] = [];
    for (const n of names) {
      const file = path.join(this.#opts.dir, n);
      const text = await readSmall(file);
      if (typeof text !== "string") {
        // Gone between readdir and read: it is simply not there any more.
        if (text.problem !== "gone") invalid.push({ source: file, problem: "file", message: text.problem });
        continue;
      }
      const docs = parseAllDocuments(text);
      if (!Array.isArray(docs)) continue; // an empty file
      docs.forEach((doc, i) => {
        const source = docs.length > 1 ? `${file}#${i}` : file;
        if (doc.errors.length > 0) {
          invalid.push({ source, problem: "yaml", message: doc.errors[0]?.message ?? "not YAML" });
          return;
        }
        const raw: unknown = doc.toJS({ maxAliasCount: 100 });
        if (raw === null || raw === undefined) return; // an empty document (`---` at the end)
        const parsed = ProfileRecording.safeParse(raw);
        if (!parsed.success) {
          const message = parsed.error.issues.map((x) => `${x.path.join(".")}: ${x.message}`).join("; ");
          invalid.push({ source, problem: "schema", message });
          return;
        }
        const rec = parsed.data;
        rec.metadata.namespace ??= "default";
        const problem = recordingProblem(rec);
        if (problem !== undefined) {
          invalid.push({ source, ...problem });
          return;
        }
        const k = key(rec.metadata.namespace, rec.metadata.name);
        if (valid.has(k)) {
          invalid.push({
            source,
            problem: "duplicate",
            message: `${k} is already defined by an earlier file`,
          });
          return;
        }
        valid.set(k, rec);
      });
    }
    this.#apply(valid, invalid);
  }

  #apply(valid: Map<string, ProfileRecording>, invalid: InvalidRecordingFile[]): void {
    const before = this.#valid;
    this.#valid = valid;
    this.#invalid = invalid;
    const reported = new Set<string>();
    for (const i of invalid) {
      const id = `${i.source}|${i.problem}|${i.message}`;
      reported.add(id);
      if (!this.#reported.has(id)) this.#opts.onInvalid?.(i);
    }
    this.#reported = reported;
    for (const [k, was] of before)
      if (!valid.has(k)) this.#listeners.notify({ type: "delete", recording: was });
    for (const [k, rec] of valid) {
      const was = before.get(k);
      if (was === undefined || JSON.stringify(was) !== JSON.stringify(rec))
        this.#listeners.notify({ type: "upsert", recording: rec });
    }
  }
}

/** A small regular file's text, or why not (never follows a symlink). */
async function readSmall(file: string): Promise<string | { problem: string }> {
  try {
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) return { problem: "not a regular file" };
      if (st.size > MAX_FILE) return { problem: `${st.size} bytes is over the ${MAX_FILE}-byte limit` };
      return await fh.readFile("utf8");
    } finally {
      await fh.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { problem: "gone" };
    return { problem: code === "ELOOP" ? "is a symlink" : (err as Error).message };
  }
}
