import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import {
  copyFile,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { howItEnded, runTool } from "./exec.js";

/**
 * Compiles SELinux CIL against a real reference policy in a **private** policy store, so that a
 * profile is proven to link (types, classes, permissions and inherited blocks exist) without
 * ever touching the machine's own store (/etc/selinux, /var/lib/selinux) or loading anything.
 *
 * Preparation (`prepareSelinuxStore`, once): a temp root with its own semanage.conf (direct
 * store, no genhomedircon, CIL kept uncompressed, no .pp copies) gets every module of Debian's
 * selinux-policy-default (`/usr/share/selinux/default/*.pp.bz2`, the package's `.modules` list,
 * priority 100 like its postinst, all enabled) plus secprof's templates (packages/installer/policy:
 * `container`, `selinuxrecording`, priority 400), all in one `semodule -p <root> -s default -n`
 * transaction. `cacheDir` keeps the result under a key of its inputs (module files, templates,
 * configuration) for later runs; it is built in a temp sibling and renamed into place, so a
 * crashed preparation never leaves a half store behind.
 *
 * A compile (`compileCil`) clones the prepared store into a fresh temp root (module files
 * hard-linked, the rest copied: see `cloneStore`), installs the modules
 * there (`semodule -p <copy> -s default -n -X 400 -i …`, one transaction), checks with
 * `semodule -l` that each one is really installed (selinuxd#44: semodule can report success
 * for a module that is not there), and deletes the copy. `secilcCheck` runs `secilc` over the
 * store's module CIL plus the given modules instead: the same compiler, without libsemanage.
 *
 * Module files are named `secprof-<profile>.cil`, so a profile called like a refpolicy module
 * (`apache`) cannot replace that module in the copy.
 *
 * Measured on this machine (2 vCPU shared with other work, load 3–5; Debian 12, 331 modules):
 * preparation 10.5–13 s wall (≈11 s CPU; the store is 26 MB); each `compileCil` 5–7 s wall
 * (≈6 s CPU: semodule relinks and expands the whole policy whatever the module size; the clone
 * is ≈0.1 s of it), and about the same for a batch of several modules; `secilcCheck` 5.5–6 s.
 * With the default semanage.conf (compressed CIL, .pp files kept) preparation took 20–30 s
 * and the store 100 MB+, for no faster compiles.
 */

export const SELINUX_POLICY_DIR = "/usr/share/selinux/default";
export const SECPROF_POLICY_DIR = fileURLToPath(new URL("../../policy/", import.meta.url));
export const SECPROF_TEMPLATES: readonly string[] = [
  path.join(SECPROF_POLICY_DIR, "container.cil"),
  path.join(SECPROF_POLICY_DIR, "selinuxrecording.cil"),
];

const STORE = "default";
const SEMANAGE_CONF = [
  "module-store = direct",
  "expand-check = 0",
  "disable-genhomedircon = true",
  // Every transaction copies the whole module store into a sandbox and reads every module:
  // drop the original .pp files once converted to CIL, and keep the CIL uncompressed.
  "remove-hll = true",
  "bzip-blocksize = 0",
  "",
].join("\n");
const ALL_MODULES_CIL = "secprof-all-modules.cil";

export interface SelinuxStoreOptions {
  /** Where the policy package's modules are (default Debian's selinux-policy-default). */
  policyDir?: string;
  /** CIL files installed with the policy (default secprof's container and recording templates). */
  templates?: readonly string[];
  /** Keep the prepared store here, keyed by its inputs, and reuse it. */
  cacheDir?: string;
  semodule?: string;
  secilc?: string;
  /** For the preparation (default 15 minutes). */
  timeoutMs?: number;
}

export interface SelinuxStore {
  /** The private root: `<root>/etc/selinux/default`, `<root>/var/lib/selinux/default`. */
  readonly root: string;
  readonly key: string;
  readonly modules: number;
  /** Wall time of the preparation; 0 when a cached store was reused. */
  readonly prepareMs: number;
  readonly reused: boolean;
  readonly semodule: string;
  readonly secilc: string;
  /** Removes the store unless it lives in a cache directory. */
  dispose(): Promise<void>;
}

export interface CilModule {
  /** The profile name (becomes the module `secprof-<name>`). */
  name: string;
  cil: string;
}

export type CilCompileResult = { ok: true; ms: number } | { ok: false; message: string; ms: number };

const MODULE_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
const moduleFile = (name: string) => `secprof-${name}.cil`;

async function policyModules(policyDir: string): Promise<string[]> {
  const list = (await readFile(path.join(policyDir, ".modules"), "utf8"))
    .split(/\s+/)
    .filter((m) => m !== "");
  if (list.length === 0) throw new Error(`${policyDir}/.modules lists no modules`);
  return list.map((m) => path.join(policyDir, `${m}.pp.bz2`));
}

async function storeKey(files: readonly string[], templates: readonly string[]): Promise<string> {
  const h = createHash("sha256").update(SEMANAGE_CONF);
  for (const f of files) {
    const s = await stat(f);
    h.update(`${f}\0${s.size}\0${s.mtimeMs}\n`);
  }
  for (const t of templates)
    h.update(t)
      .update("\0")
      .update(await readFile(t));
  return h.digest("hex").slice(0, 24);
}

async function writeRootSkeleton(root: string): Promise<void> {
  await mkdir(path.join(root, "etc/selinux", STORE), { recursive: true });
  await mkdir(path.join(root, "var/lib/selinux"), { recursive: true });
  await writeFile(path.join(root, "etc/selinux/semanage.conf"), SEMANAGE_CONF);
  await writeFile(path.join(root, "etc/selinux/config"), `SELINUX=permissive\nSELINUXTYPE=${STORE}\n`);
}

/** The active modules' CIL, highest priority per module, disabled ones left out (for secilc). */
async function concatActiveCil(root: string): Promise<string> {
  const base = path.join(root, "var/lib/selinux", STORE, "active/modules");
  const disabled = new Set(
    existsSync(path.join(base, "disabled")) ? await readdir(path.join(base, "disabled")) : [],
  );
  const priorities = (await readdir(base))
    .filter((d) => /^[0-9]+$/.test(d))
    .sort((a, b) => Number(b) - Number(a));
  const chosen = new Map<string, string>();
  for (const p of priorities)
    for (const m of await readdir(path.join(base, p)))
      if (!chosen.has(m) && !disabled.has(m)) chosen.set(m, path.join(base, p, m, "cil"));
  const entries = [...chosen.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  const texts = new Map<string, string>();
  // libsemanage stores module CIL bzip2-compressed; decompress with bzip2, a few at a time.
  const queue = [...entries];
  const worker = async () => {
    for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
      const [m, file] = e;
      const raw = await readFile(file);
      if (raw.subarray(0, 3).toString("latin1") !== "BZh") {
        texts.set(m, raw.toString("utf8"));
        continue;
      }
      const r = await runTool("bzip2", ["-dc", file], { timeoutMs: 60_000, maxOutput: 64 * 1024 * 1024 });
      if (r.code !== 0)
        throw new Error(`decompressing module ${m}: ${howItEnded("bzip2", r, 60_000)}: ${r.stderr}`);
      texts.set(m, r.stdout);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return entries.map(([m]) => `; module ${m}\n${texts.get(m) ?? ""}\n`).join("");
}

/** Prepares (or reuses from `cacheDir`) the private store (see the module comment). */
export async function prepareSelinuxStore(opts: SelinuxStoreOptions = {}): Promise<SelinuxStore> {
  const semodule = opts.semodule ?? "semodule";
  const secilc = opts.secilc ?? "secilc";
  const timeoutMs = opts.timeoutMs ?? 15 * 60_000;
  const files = await policyModules(opts.policyDir ?? SELINUX_POLICY_DIR);
  const templates = opts.templates ?? SECPROF_TEMPLATES;
  const key = await storeKey(files, templates);
  const make = (root: string, prepareMs: number, reused: boolean, cached: boolean): SelinuxStore => ({
    root,
    key,
    modules: files.length + templates.length,
    prepareMs,
    reused,
    semodule,
    secilc,
    dispose: async () => {
      if (!cached) await rm(root, { recursive: true, force: true });
    },
  });
  const final = opts.cacheDir === undefined ? undefined : path.join(opts.cacheDir, key);
  if (final !== undefined && existsSync(path.join(final, "ready"))) return make(final, 0, true, true);

  if (opts.cacheDir !== undefined) await mkdir(opts.cacheDir, { recursive: true, mode: 0o700 });
  const root = await mkdtemp(
    path.join(opts.cacheDir ?? tmpdir(), opts.cacheDir ? ".prep-" : "secprof-selinux-"),
  );
  const started = performance.now();
  try {
    await writeRootSkeleton(root);
    const args = ["-p", root, "-s", STORE, "-n", "-X", "100", ...files.flatMap((f) => ["-i", f])];
    if (templates.length > 0) args.push("-X", "400", ...templates.flatMap((t) => ["-i", t]));
    const r = await runTool(semodule, args, { timeoutMs });
    if (r.code !== 0 || r.timedOut)
      throw new Error(
        `preparing the SELinux store: ${howItEnded("semodule", r, timeoutMs)}: ${r.stderr.trim()}`,
      );
    await writeFile(path.join(root, ALL_MODULES_CIL), await concatActiveCil(root));
    await writeFile(path.join(root, "ready"), `${new Date().toISOString()}\n`);
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  const prepareMs = Math.round(performance.now() - started);
  if (final === undefined) return make(root, prepareMs, false, false);
  try {
    await rename(root, final);
  } catch {
    // Another process prepared the same store meanwhile: use theirs.
    await rm(root, { recursive: true, force: true });
    if (!existsSync(path.join(final, "ready")))
      throw new Error(`cannot place the prepared store at ${final}`);
  }
  return make(final, prepareMs, false, true);
}

/**
 * A private copy of a prepared store. The module files (`active/modules/**`, ~100 MB) are hard
 * links: libsemanage never writes them in place (a transaction copies `active` to a sandbox,
 * builds there and renames it over `active`), so the cached originals cannot change. Everything
 * else (locks, policy, contexts) is copied.
 */
async function cloneStore(src: string, dst: string): Promise<void> {
  const modules = path.join(src, "var/lib/selinux", STORE, "active/modules");
  const walk = async (from: string, to: string, share: boolean): Promise<void> => {
    const st = await lstat(from);
    if (st.isDirectory()) {
      await mkdir(to, { mode: st.mode & 0o777 });
      for (const e of await readdir(from))
        if (e !== ALL_MODULES_CIL)
          await walk(path.join(from, e), path.join(to, e), share || from === modules);
    } else if (st.isFile()) {
      if (share)
        await link(from, to).catch(() => copyFile(from, to)); // EXDEV: another file system
      else await copyFile(from, to);
    }
  };
  await walk(src, dst, false);
}

/** Checks module names and writes the files; a bad name never reaches a tool. */
async function writeModules(dir: string, modules: readonly CilModule[]): Promise<Map<string, CilModule>> {
  const byModule = new Map<string, CilModule>();
  for (const m of modules) {
    if (!MODULE_NAME.test(m.name))
      throw new RangeError(
        `${JSON.stringify(m.name)} cannot name a module: a letter, then letters, digits, _ and -`,
      );
    const file = moduleFile(m.name);
    if (byModule.has(file.slice(0, -4))) throw new RangeError(`module ${m.name} is given twice`);
    byModule.set(file.slice(0, -4), m);
    await writeFile(path.join(dir, file), m.cil, { mode: 0o600, flag: "wx" });
  }
  return byModule;
}

/** The tool's messages, with store paths turned into `module <name> line N: "<source line>"`. */
function explain(stderr: string, byModule: ReadonlyMap<string, CilModule>, dir: string): string {
  const out: string[] = [];
  for (const raw of stderr.split("\n")) {
    let line = raw.trim();
    if (line === "" || /genhomedircon is disabled|See \/etc\/selinux\/semanage.conf/.test(line)) continue;
    line = line.replace(
      /(\S*\/)?(secprof-[A-Za-z0-9_-]+)(?:\/cil|\.cil):(\d+)/g,
      (_m, _dir, mod: string, n: string) => {
        const src = byModule.get(mod)?.cil.split("\n")[Number(n) - 1];
        return `module ${mod} line ${n}${src === undefined ? "" : ` ${JSON.stringify(src.trim().slice(0, 200))}`}`;
      },
    );
    out.push(line.split(dir).join("<tmp>"));
  }
  return out.join("; ");
}

/**
 * Installs `modules` into a throwaway copy of the prepared store (see the module comment).
 * Throws RangeError for a name that cannot be a module; otherwise resolves with the verdict.
 */
export async function compileCil(
  store: SelinuxStore,
  modules: readonly CilModule[],
  opts: { timeoutMs?: number } = {},
): Promise<CilCompileResult> {
  const timeoutMs = opts.timeoutMs ?? 5 * 60_000;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const dir = await mkdtemp(path.join(tmpdir(), "secprof-cil-"));
  try {
    const root = path.join(dir, "root");
    await cloneStore(store.root, root);
    const byModule = await writeModules(dir, modules);
    const args = ["-p", root, "-s", STORE, "-n", "-X", "400"];
    for (const mod of byModule.keys()) args.push("-i", path.join(dir, `${mod}.cil`));
    const r = await runTool(store.semodule, args, { timeoutMs });
    if (r.code !== 0 || r.timedOut)
      return {
        ok: false,
        message: `${howItEnded("semodule", r, timeoutMs)}: ${explain(r.stderr, byModule, dir)}`,
        ms: elapsed(),
      };
    const l = await runTool(store.semodule, ["-p", root, "-s", STORE, "-l"], { timeoutMs });
    const listed = new Set(l.stdout.split("\n").map((line) => line.trim().split(/\s+/)[0]));
    const missing = [...byModule.keys()].filter((m) => !listed.has(m));
    if (l.code !== 0 || missing.length > 0)
      return {
        ok: false,
        message: `semodule exited 0 but ${missing.length > 0 ? `semodule -l does not list ${missing.join(", ")}` : "semodule -l failed"}`,
        ms: elapsed(),
      };
    return { ok: true, ms: elapsed() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `secilc` over the store's active module CIL plus `modules`, writing nothing but temp files. */
export async function secilcCheck(
  store: SelinuxStore,
  modules: readonly CilModule[],
  opts: { timeoutMs?: number } = {},
): Promise<CilCompileResult> {
  const timeoutMs = opts.timeoutMs ?? 5 * 60_000;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const dir = await mkdtemp(path.join(tmpdir(), "secprof-secilc-"));
  try {
    const byModule = await writeModules(dir, modules);
    const args = [
      "-o",
      path.join(dir, "policy.bin"),
      "-f",
      path.join(dir, "file_contexts"),
      path.join(store.root, ALL_MODULES_CIL),
      ...[...byModule.keys()].map((m) => path.join(dir, `${m}.cil`)),
    ];
    const r = await runTool(store.secilc, args, { timeoutMs, cwd: dir });
    if (r.code !== 0 || r.timedOut)
      return {
        ok: false,
        message: `${howItEnded("secilc", r, timeoutMs)}: ${explain(`${r.stderr}\n${r.stdout}`, byModule, dir)}`,
        ms: elapsed(),
      };
    return { ok: true, ms: elapsed() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
