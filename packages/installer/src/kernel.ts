import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * Ports to the policy compilers and the running kernel, so the reconcile logic is testable and
 * honest about what a node can do.
 *
 * - `Validator`: compiles rendered AppArmor text / SELinux CIL *without loading it* (the real
 *   compilers: `apparmor_parser -Q`, `secilc`), before anything touches the host. Implemented in
 *   `validate/` (apparmor_parser/secilc wrappers); without one, AppArmor and SELinux profiles
 *   fail closed (status Error) rather than being installed unchecked.
 * - `KernelPolicy`: loads/unloads into the running kernel. `unavailable()` says why it cannot
 *   (then the file is installed and the status says "not loaded: <why>").
 *
 * AppArmor is loaded with `apparmor_parser -r` reading the text on stdin (no host path is
 * re-resolved by the child); SELinux modules go through `semodule -i` on a private copy in a
 * fresh 0700 temp dir. semodule names the module after the file, and the file is
 * `secprof-<profile>.cil` (`selinuxModuleName`), as in the validator's private store
 * (validate/selinux-compile.ts): a profile called like a reference-policy module (`apache`,
 * installed at priority 100) would otherwise replace that module, since `semodule -i` installs
 * at priority 400. Names with dots work (`secprof-web.v2`: libsemanage's module names are
 * `[a-zA-Z](\.?[a-zA-Z0-9_-])*`).
 */

export type PolicyKind = "AppArmorProfile" | "SelinuxProfile";

export type ValidationResult = { ok: true; warnings?: string[] } | { ok: false; message: string };

export interface Validator {
  validate(kind: PolicyKind, name: string, text: string): Promise<ValidationResult>;
}

export class LoadError extends Error {
  override readonly name = "LoadError";
}

export interface KernelPolicy {
  /** undefined when policy of this kind can be loaded here, else the reason it cannot. */
  unavailable(): Promise<string | undefined>;
  /** Loads or replaces; throws LoadError with the loader's output. */
  load(name: string, text: string): Promise<void>;
  /** Removes a loaded policy; `text` is the installed file (apparmor_parser -R needs it). */
  unload(name: string, text: string): Promise<void>;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export type CommandRunner = (cmd: string, args: readonly string[], stdin?: string) => Promise<CommandResult>;

export const runCommand: CommandRunner = (cmd, args, stdin) =>
  new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      if (stdout.length < 65_536) stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      if (stderr.length < 65_536) stderr += d;
    });
    child.on("error", (err) => resolve({ code: null, stdout, stderr: `${stderr}${err.message}` }));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.on("error", () => {});
    child.stdin.end(stdin ?? "");
  });

function output(r: CommandResult): string {
  return (r.stderr.trim() || r.stdout.trim() || `exit ${r.code ?? "signal"}`).slice(0, 4000);
}

async function writable(p: string): Promise<boolean> {
  try {
    await access(p, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

export interface KernelOptions {
  /** Where sysfs is (default /sys). */
  sysfs?: string;
  run?: CommandRunner;
  apparmorParser?: string;
  semodule?: string;
  /** SELinux policy store semodule writes (default /var/lib/selinux). */
  selinuxStore?: string;
}

export class AppArmorKernel implements KernelPolicy {
  private readonly sysfs: string;
  private readonly run: CommandRunner;
  private readonly parser: string;
  constructor(opts: KernelOptions = {}) {
    this.sysfs = opts.sysfs ?? "/sys";
    this.run = opts.run ?? runCommand;
    this.parser = opts.apparmorParser ?? "apparmor_parser";
  }

  async unavailable(): Promise<string | undefined> {
    try {
      const v = await readFile(path.join(this.sysfs, "module/apparmor/parameters/enabled"), "utf8");
      if (v.trim() !== "Y") return "AppArmor is disabled in this kernel";
    } catch {
      return "no AppArmor in this kernel";
    }
    // In a container securityfs is read-only unless privileged: say so instead of failing a load
    // (and rolling back the file) on every reconcile.
    const replace = path.join(this.sysfs, "kernel/security/apparmor/.replace");
    return (await writable(replace)) ? undefined : `AppArmor is enabled but ${replace} is not writable here`;
  }

  async load(name: string, text: string): Promise<void> {
    const r = await this.run(this.parser, ["-r", "-W"], text);
    if (r.code !== 0) throw new LoadError(`apparmor_parser -r ${name}: ${output(r)}`);
  }

  async unload(name: string, text: string): Promise<void> {
    const r = await this.run(this.parser, ["-R"], text);
    if (r.code !== 0) throw new LoadError(`apparmor_parser -R ${name}: ${output(r)}`);
  }
}

const SELINUX_MODULE_NAME = /^[A-Za-z](?:\.?[A-Za-z0-9_-])*$/;

/**
 * The SELinux module a profile is installed as: `secprof-<name>` (see the module comment).
 * Throws LoadError for a name that cannot be a module name (nothing runs then).
 */
export function selinuxModuleName(profile: string): string {
  const mod = `secprof-${profile}`;
  if (profile === "" || mod.length > 255 || !SELINUX_MODULE_NAME.test(mod))
    throw new LoadError(`${JSON.stringify(profile.slice(0, 100))} cannot name an SELinux module`);
  return mod;
}

export class SelinuxKernel implements KernelPolicy {
  private readonly sysfs: string;
  private readonly run: CommandRunner;
  private readonly semodule: string;
  private readonly store: string;
  constructor(opts: KernelOptions = {}) {
    this.sysfs = opts.sysfs ?? "/sys";
    this.run = opts.run ?? runCommand;
    this.semodule = opts.semodule ?? "semodule";
    this.store = opts.selinuxStore ?? "/var/lib/selinux";
  }

  async unavailable(): Promise<string | undefined> {
    if (!(await exists(path.join(this.sysfs, "fs/selinux/enforce")))) return "SELinux is not enabled";
    // selinuxd (or host tooling) installs /etc/selinux.d modules when this process cannot.
    return (await writable(this.store))
      ? undefined
      : `SELinux is enabled but the policy store ${this.store} is not writable here`;
  }

  async load(name: string, text: string): Promise<void> {
    const mod = selinuxModuleName(name);
    const dir = await mkdtemp(path.join(tmpdir(), "secprof-cil-"));
    try {
      const file = path.join(dir, `${mod}.cil`);
      await writeFile(file, text, { mode: 0o600, flag: "wx" });
      const r = await this.run(this.semodule, ["-i", file]);
      if (r.code !== 0) throw new LoadError(`semodule -i ${mod}.cil: ${output(r)}`);
      // selinuxd#44: an install can "succeed" without the module; trust only `semodule -l`.
      const l = await this.run(this.semodule, ["-l"]);
      if (l.code !== 0 || !l.stdout.split("\n").some((line) => line.trim().split(/\s+/)[0] === mod))
        throw new LoadError(`semodule -i ${mod}.cil exited 0 but semodule -l does not list ${mod}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async unload(name: string): Promise<void> {
    const mod = selinuxModuleName(name);
    const r = await this.run(this.semodule, ["-r", mod]);
    if (r.code !== 0) throw new LoadError(`semodule -r ${mod}: ${output(r)}`);
  }
}
