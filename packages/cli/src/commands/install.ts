import { realpath } from "node:fs/promises";
import {
  AppArmorKernel,
  ApprovalStoreError,
  HostWriter,
  type KernelPolicy,
  LocalApprovalStore,
  LocalInstallState,
  loadProfileDir,
  type NodeProfileStatus,
  noUsage,
  PolicyCompilers,
  type PolicyKind,
  type SeccompLayout,
  SeccompPolicy,
  SelinuxKernel,
  singleHostPass,
  type Validator,
  type WorkloadUsage,
} from "@secprof/installer";
import { parse } from "yaml";

/**
 * `secprof install DIR --root HOSTROOT [--seccomp-layout namespaced|cluster] [--kubelet-dir DIR]
 *  [--node NAME] [--policy FILE] [--store FILE] [--state FILE]`
 *
 * Single-host mode of the installer: takes the profile objects in DIR, installs those whose
 * current content is approved in the local store under HOSTROOT (safe atomic writes, see
 * @secprof/installer), loads AppArmor/SELinux where the kernel can, removes what it installed
 * earlier and is no longer in DIR, and prints one status per profile. Stale temp files from a
 * killed run are removed first. State (what was installed, last statuses) is kept per host root
 * in `<DIR>/.secprof/install-state.json`.
 *
 * Exit: 0 when no profile is in Error (awaiting approval is not an error); 1 otherwise, or when
 * the root, store or state cannot be used; 2 usage.
 */

export interface InstallOptions {
  dir: string;
  root: string;
  seccompLayout?: SeccompLayout | undefined;
  kubeletDir?: string | undefined;
  node?: string | undefined;
  /** JSON/YAML file with SeccompPolicy (`allowedSyscalls`, `allowedActions`). */
  policy?: string | undefined;
  store?: string | undefined;
  state?: string | undefined;
}

export interface InstallDeps {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** AppArmor/SELinux compilers (default: the real ones, `PolicyCompilers`). */
  validator?: Validator | undefined;
  kernel?: Record<PolicyKind, KernelPolicy>;
  usage?: WorkloadUsage;
  hostname: string;
  now?: () => Date;
  readFile: (path: string) => Promise<string>;
}

const label = (s: Pick<NodeProfileStatus, "kind" | "namespace" | "name">) =>
  `${s.kind}/${s.namespace === undefined ? "" : `${s.namespace}/`}${s.name}`;

export async function install(opts: InstallOptions, deps: InstallDeps): Promise<number> {
  const fail = (msg: string, code = 1) => {
    deps.stderr.write(`secprof install: ${msg}\n`);
    return code;
  };
  let policy: SeccompPolicy | undefined;
  if (opts.policy !== undefined) {
    try {
      const parsed = SeccompPolicy.safeParse(parse(await deps.readFile(opts.policy)));
      if (!parsed.success)
        return fail(`--policy ${opts.policy}: ${parsed.error.issues[0]?.message ?? "invalid"}`, 2);
      policy = parsed.data;
    } catch (err) {
      return fail(`--policy ${opts.policy}: ${(err as Error).message}`, 2);
    }
  }

  let writer: HostWriter;
  let rootKey: string;
  try {
    rootKey = await realpath(opts.root);
    writer = await HostWriter.open({
      root: rootKey,
      ...(opts.seccompLayout === undefined ? {} : { seccompLayout: opts.seccompLayout }),
      ...(opts.kubeletDir === undefined ? {} : { kubeletDir: opts.kubeletDir }),
    });
  } catch (err) {
    return fail(`--root ${opts.root}: ${(err as Error).message}`);
  }
  const compilers = deps.validator === undefined ? new PolicyCompilers() : undefined;
  try {
    const loaded = await loadProfileDir(opts.dir);
    for (const p of loaded.problems) deps.stderr.write(`secprof install: ${p.source}: ${p.error}\n`);
    const result = await singleHostPass({
      desired: loaded.profiles,
      store: new LocalApprovalStore(opts.store ?? LocalApprovalStore.defaultPath(opts.dir)),
      state: new LocalInstallState(opts.state ?? LocalInstallState.defaultPath(opts.dir)),
      rootKey,
      writer,
      deps: {
        node: opts.node ?? deps.hostname,
        kernel: deps.kernel ?? {
          AppArmorProfile: new AppArmorKernel(),
          SelinuxProfile: new SelinuxKernel(),
        },
        usage: deps.usage ?? noUsage,
        validator: deps.validator ?? compilers,
        ...(policy === undefined ? {} : { seccomp: { policy } }),
        ...(deps.now === undefined ? {} : { now: deps.now }),
      },
    });
    for (const t of result.staleTemps) deps.stderr.write(`secprof install: removed a stale temp file ${t}\n`);

    const lines: string[] = [];
    for (const s of result.statuses) lines.push(`${s.state.padEnd(12)} ${label(s)}  ${s.message}`);
    for (const r of result.removed) lines.push(`${"Removed".padEnd(12)} ${label(r)}  ${r.path}`);
    for (const u of result.unreadable)
      lines.push(`${"Error".padEnd(12)} ${u.source}  ${u.errors.join("; ")}`);
    if (lines.length === 0) lines.push(`no profiles in ${opts.dir}`);
    deps.stdout.write(`${lines.join("\n")}\n`);
    const errors =
      result.statuses.filter((s) => s.state === "Error").length +
      result.unreadable.length +
      loaded.problems.length;
    return errors > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof ApprovalStoreError) return fail(`${err.message} (nothing was installed)`);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return fail(`${opts.dir}: no such directory`);
    return fail((err as Error).message);
  } finally {
    await compilers?.dispose();
    await writer.close();
  }
}
