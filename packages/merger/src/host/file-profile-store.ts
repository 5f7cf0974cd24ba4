import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { open, readdir, rename, unlink } from "node:fs/promises";
import path from "node:path";
import {
  AppArmorProfile,
  bundleFileName,
  DNS_SUBDOMAIN,
  LABELS,
  type ProfileObject,
  type ProfileStore,
  SeccompProfile,
  SelinuxProfile,
} from "@secprof/core";
import { parse, stringify } from "yaml";
import { type ProfileKind, ProfileOwnershipError } from "../kube/profile-store.js";

/**
 * Host mode's `ProfileStore`: the profile objects, as the merger would write them to the
 * Kubernetes API (SPO v1 CR YAML, cluster-scoped: no `metadata.namespace`, the recording's
 * namespace in the `spo.x-k8s.io/recording-namespace` label), one file each in a directory:
 * `<name>.seccomp.yaml`, `<name>.selinux.yaml`, `<name>.apparmor.yaml` (the bundle's file names).
 * That directory is what the installer's single-host mode, `secprof install` and
 * `secprof approve --dir` read.
 *
 * - `put` writes a temporary dotfile in the same directory, fsyncs it and renames it over the
 *   target, so a reader (the installer polls) sees the old or the new object, never a torn one;
 *   puts of one file are serialised within the process.
 * - Namespaces behave as `KubeProfileStore`'s cluster scope: a file labelled for another
 *   recording namespace is invisible to `get`, skipped by `list`, and `put`/`delete` refuse it
 *   (`ProfileOwnershipError`); `""` means any namespace.
 * - Files that do not parse or fail the profile schema are skipped by `list`, counted
 *   (`invalidSeen`) and reported through `onInvalid`; dotfiles and other names are ignored.
 */

export interface FileProfileStoreOptions {
  dir: string;
  /** File mode of written profiles. Default 0o644 (the installer runs as another uid). */
  mode?: number;
  onInvalid?: (file: string, error: string) => void;
}

const SCHEMAS = { SeccompProfile, SelinuxProfile, AppArmorProfile } as const;
const MAX_FILE = 4 * 1024 * 1024;

export class FileProfileStore implements ProfileStore {
  readonly #opts: FileProfileStoreOptions;
  readonly #chains = new Map<string, Promise<unknown>>();
  #invalid = 0;

  constructor(opts: FileProfileStoreOptions) {
    this.#opts = opts;
  }

  get invalidSeen(): number {
    return this.#invalid;
  }

  /** The file `kind`/`name` is stored in. */
  fileOf(kind: ProfileKind, name: string): string {
    // The schema already limits names; this keeps any other caller inside the directory.
    if (!DNS_SUBDOMAIN.test(name) || name.length > 253)
      throw new Error(`${kind} ${JSON.stringify(name)}: not a valid name`);
    return path.join(this.#opts.dir, bundleFileName(kind, name, "cr-yaml"));
  }

  put(namespace: string, profile: ProfileObject): Promise<ProfileObject> {
    const checked = SCHEMAS[profile.kind].parse(profile);
    const file = this.fileOf(checked.kind, checked.metadata.name);
    return this.#serial(file, async () => {
      const stored = await this.#read(checked.kind, file);
      if (stored !== undefined) this.#checkOwner(namespace, stored);
      const { namespace: _ignored, ...metadata } = checked.metadata;
      const out = { ...checked, metadata } as ProfileObject;
      const tmp = path.join(this.#opts.dir, `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
      const fh = await open(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
        this.#opts.mode ?? 0o644,
      );
      try {
        await fh.writeFile(stringify(out, { lineWidth: 0 }));
        await fh.sync();
      } catch (err) {
        await fh.close();
        await unlink(tmp).catch(() => undefined);
        throw err;
      }
      await fh.close();
      await rename(tmp, file);
      return out;
    });
  }

  async get(kind: ProfileKind, namespace: string, name: string): Promise<ProfileObject | undefined> {
    const p = await this.#read(kind, this.fileOf(kind, name));
    return p === undefined || !this.#visible(namespace, p) ? undefined : p;
  }

  async list(
    kind: ProfileKind,
    namespace: string,
    labels: Record<string, string> = {},
  ): Promise<ProfileObject[]> {
    const suffix = bundleFileName(kind, "", "cr-yaml");
    const names = (await readdir(this.#opts.dir))
      .filter((n) => !n.startsWith(".") && n.endsWith(suffix))
      .sort();
    const out: ProfileObject[] = [];
    for (const n of names) {
      const p = await this.#read(kind, path.join(this.#opts.dir, n));
      if (p === undefined) continue;
      // Cluster scope selects by the label: an unlabelled object belongs to no namespace.
      if (namespace !== "" && p.metadata.labels?.[LABELS.recordingNamespace] !== namespace) continue;
      if (Object.entries(labels).every(([k, v]) => p.metadata.labels?.[k] === v)) out.push(p);
    }
    return out;
  }

  async delete(kind: ProfileKind, namespace: string, name: string): Promise<void> {
    const file = this.fileOf(kind, name);
    await this.#serial(file, async () => {
      const stored = await this.#read(kind, file);
      if (stored === undefined) return;
      this.#checkOwner(namespace, stored);
      await unlink(file).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      });
    });
  }

  /** The profile in `file`, or undefined when there is none or it is invalid (counted). */
  async #read(kind: ProfileKind, file: string): Promise<ProfileObject | undefined> {
    let text: string;
    try {
      const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        const st = await fh.stat();
        if (!st.isFile() || st.size > MAX_FILE) return this.#reject(file, "not a regular file under 4 MiB");
        text = await fh.readFile("utf8");
      } finally {
        await fh.close();
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      return this.#reject(file, code === "ELOOP" ? "is a symlink" : String(err));
    }
    let raw: unknown;
    try {
      raw = parse(text, { maxAliasCount: 100 });
    } catch (err) {
      return this.#reject(file, `not YAML: ${(err as Error).message}`);
    }
    const p = SCHEMAS[kind].safeParse(raw);
    if (!p.success) return this.#reject(file, p.error.message);
    return p.data;
  }

  #reject(file: string, error: string): undefined {
    this.#invalid += 1;
    this.#opts.onInvalid?.(file, error);
    return undefined;
  }

  #visible(namespace: string, p: ProfileObject): boolean {
    if (namespace === "") return true;
    const owner = p.metadata.labels?.[LABELS.recordingNamespace];
    return owner === undefined || owner === namespace;
  }

  #checkOwner(namespace: string, p: ProfileObject): void {
    if (this.#visible(namespace, p)) return;
    throw new ProfileOwnershipError(
      p.kind,
      p.metadata.name,
      p.metadata.labels?.[LABELS.recordingNamespace] ?? "",
      namespace,
    );
  }

  #serial<T>(file: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#chains.get(file) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.#chains.set(file, settled);
    void settled.then(() => {
      if (this.#chains.get(file) === settled) this.#chains.delete(file);
    });
    return next;
  }
}
