import {
  APPROVAL_DIGEST_DOMAIN,
  type ApprovalDigest,
  type ApprovalRecord,
  Approver,
  approvalDiff,
  approvalDigestInput,
  currentApproval,
  formatApprovalDiff,
  type ProfileObject,
  type ProfileRef,
  parseProfileRef,
  sameProfile,
} from "@secprof/core";
import {
  ApprovalStoreError,
  approvedSnapshot,
  ClusterApprovalApi,
  LocalApprovalStore,
  LocalInstallState,
  loadProfileDir,
  PolicyCompilers,
  parseProfile,
  prepareHostFile,
  profileDigest,
  type Validator,
} from "@secprof/installer";

/**
 * `secprof approve KIND/NAME --dir DIR [--revoke] [--by WHO] [--store FILE]`   (single-host)
 * `secprof approve KIND/NAME [--kubeconfig FILE] [--revoke]`                    (cluster)
 *
 * Cluster mode (no --dir): reads the profile from the API, checks it like the installer will,
 * shows the diff against the last approved content (kept on the ProfileApproval object) and the
 * digests installed per node (ProfileNodeStatus), then creates or replaces the ProfileApproval
 * object (`spec`: kind, name, digest, approvedBy = the kubeconfig user, approvedAt). `--revoke`
 * marks that object revoked (kept, so the record of who approved what stays). It uses the
 * person's own credentials: no secprof daemon may write approvals.
 *
 * Single-host mode. Finds the profile in DIR, checks it the way the installer will (so nobody
 * approves something that cannot be installed), shows the semantic diff against what is
 * installed (per the install state) or else what was last approved, and appends an approval of
 * its digest (sha256 of core's canonical rendering) to the local store with who and when.
 * `--revoke` marks the current approval revoked (the profile need not be in DIR any more).
 *
 * Exit: 0 approved / revoked / already approved; 1 not found, invalid, store error; 2 usage.
 */

export interface ApproveOptions {
  /** `KIND/NAME` or `KIND/NAMESPACE/NAME`. */
  ref: string;
  /** Single-host mode: the profile directory. Absent: cluster mode. */
  dir?: string | undefined;
  kubeconfig?: string | undefined;
  revoke?: boolean | undefined;
  by?: string | undefined;
  /** Approval store (default `<dir>/.secprof/approvals.json`). */
  store?: string | undefined;
  /** Install state to diff against (default `<dir>/.secprof/install-state.json`). */
  state?: string | undefined;
}

export interface ApproveDeps {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: NodeJS.ProcessEnv;
  now?: () => Date;
  /** AppArmor/SELinux compilers (default: the real ones, `PolicyCompilers`). */
  validator?: Validator | undefined;
  /** Cluster mode's API (default: from --kubeconfig or the usual places). */
  cluster?: ClusterApprovalApi;
}

const short = (d: string) => `${d.slice(0, 19)}…`;
const label = (r: ProfileRef) => `${r.kind}/${r.namespace === undefined ? "" : `${r.namespace}/`}${r.name}`;

/** Who approves: --by, else the invoking user (SUDO_USER before USER), else the uid. */
export function approverOf(by: string | undefined, env: NodeJS.ProcessEnv): string {
  return by ?? env.SUDO_USER ?? env.USER ?? env.LOGNAME ?? `uid:${process.getuid?.() ?? "?"}`;
}

function fromSnapshot(snapshot: string | undefined): ProfileObject | undefined {
  if (snapshot === undefined || !snapshot.startsWith(APPROVAL_DIGEST_DOMAIN)) return undefined;
  try {
    const p = parseProfile(JSON.parse(snapshot.slice(APPROVAL_DIGEST_DOMAIN.length)));
    return p.ok ? p.profile : undefined;
  } catch {
    return undefined;
  }
}

export async function approve(opts: ApproveOptions, deps: ApproveDeps): Promise<number> {
  const fail = (msg: string, code = 1) => {
    deps.stderr.write(`secprof approve: ${msg}\n`);
    return code;
  };
  const ref = parseProfileRef(opts.ref);
  if (typeof ref === "string") return fail(ref, 2);
  if (opts.dir === undefined) return approveInCluster(opts, ref, deps, fail);
  const dir = opts.dir;
  const who = Approver.safeParse(approverOf(opts.by, deps.env));
  if (!who.success) return fail(`invalid --by: ${who.error.issues[0]?.message ?? "invalid"}`, 2);
  const now = (deps.now ?? (() => new Date()))();
  const store = new LocalApprovalStore(opts.store ?? LocalApprovalStore.defaultPath(dir));

  try {
    if (opts.revoke === true) {
      const r = await store.revoke(ref, who.data, now);
      if (r === undefined) return fail(`${label(ref)} has no approval to revoke`);
      deps.stdout.write(
        `revoked the approval of ${label(ref)} ${short(r.digest)} (approved by ${r.approvedBy} at ${r.approvedAt}); revoked by ${who.data} at ${now.toISOString()}\n` +
          "the installer will not install or update it until a new approval; a file already installed stays until the profile is deleted\n",
      );
      return 0;
    }

    // Find the profile in DIR.
    const loaded = await loadProfileDir(dir);
    const matches = loaded.profiles
      .map((d) => ({ d, p: parseProfile(d.object) }))
      .filter(({ p }) => {
        if (p.ref === undefined) return false;
        const r = p.ref;
        return (
          r.kind === ref.kind &&
          r.name === ref.name &&
          (ref.namespace === undefined || r.namespace === ref.namespace)
        );
      });
    if (matches.length === 0) return fail(`${label(ref)} not found in ${dir}`);
    if (matches.length > 1)
      return fail(
        `${label(ref)} matches ${matches.length} objects (${matches.map((m) => m.d.source ?? "?").join(", ")}): name the namespace or remove the duplicate`,
      );
    const match = matches[0];
    if (match === undefined) return fail(`${label(ref)} not found`);
    const checked = await checkProfile(match.p, ref, deps);
    if (typeof checked === "string") return fail(checked);
    const { profile, exact, digest, warnings } = checked;

    const records = await store.records();
    const current = currentApproval(records, exact);
    const out: string[] = [`${label(exact)} ${digest} (${match.d.source ?? dir})`];
    if (current?.digest === digest && current.revoked === undefined) {
      deps.stdout.write(`${out[0]}\nalready approved by ${current.approvedBy} at ${current.approvedAt}\n`);
      return 0;
    }

    // Diff against what is installed, else what was last approved.
    const base = await diffBase(opts, dir, store, exact, current);
    out.push(...diffLines(base, profile, warnings));

    const record = await store.approve(exact, digest, who.data, now, approvalDigestInput(profile));
    out.push(
      `approved ${label(exact)} ${short(record.digest)} by ${record.approvedBy} at ${record.approvedAt}`,
    );
    deps.stdout.write(`${out.join("\n")}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ApprovalStoreError) return fail(err.message);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return fail(`${dir}: no such directory`);
    throw err;
  }
}

async function diffBase(
  opts: ApproveOptions,
  dir: string,
  store: LocalApprovalStore,
  ref: ProfileRef,
  current: ApprovalRecord | undefined,
): Promise<{ what: string; digest: string; profile: ProfileObject | undefined } | undefined> {
  const state = new LocalInstallState(opts.state ?? LocalInstallState.defaultPath(dir));
  let installed: { digest: string; root: string } | undefined;
  try {
    const all = await state.load();
    for (const [root, s] of Object.entries(all.roots)) {
      const e = s.installed.find((x) => sameProfile(x, ref));
      if (e !== undefined) installed = { digest: e.digest, root };
    }
  } catch {
    // No readable install state: fall back to the last approval.
  }
  if (installed !== undefined)
    return {
      what: `the version installed under ${installed.root}`,
      digest: installed.digest,
      profile: fromSnapshot(await store.snapshot(installed.digest)),
    };
  if (current !== undefined && sameProfile(current, ref))
    return {
      what: `the last approved version (${current.approvedBy}, ${current.approvedAt}${current.revoked === undefined ? "" : ", revoked"})`,
      digest: current.digest,
      profile: fromSnapshot(await store.snapshot(current.digest)),
    };
  return undefined;
}

type DiffBase = { what: string; digest: string; profile: ProfileObject | undefined };

/** Checks a profile the way the installer will; an error message, or what to approve. */
async function checkProfile(
  parsed: ReturnType<typeof parseProfile>,
  ref: ProfileRef,
  deps: ApproveDeps,
): Promise<
  string | { profile: ProfileObject; exact: ProfileRef; digest: ApprovalDigest; warnings: string[] }
> {
  if (!parsed.ok)
    return `refusing to approve ${label(parsed.ref ?? ref)}: invalid: ${parsed.errors.join("; ")}`;
  const compilers = deps.validator === undefined ? new PolicyCompilers() : undefined;
  const prepared = await prepareHostFile(parsed.profile, { validator: deps.validator ?? compilers }).finally(
    () => compilers?.dispose(),
  );
  if (!prepared.ok) return `refusing to approve ${label(parsed.ref)}: invalid: ${prepared.errors.join("; ")}`;
  return {
    profile: parsed.profile,
    exact: parsed.ref,
    digest: profileDigest(parsed.profile),
    warnings: prepared.warnings,
  };
}

/** The semantic diff from `base` (or from nothing) to `profile`, as printed before approving. */
function diffLines(
  base: DiffBase | undefined,
  profile: ProfileObject,
  warnings: readonly string[],
): string[] {
  const out: string[] = [];
  if (base === undefined) out.push("  nothing installed or approved before: the whole profile is new");
  else out.push(`  compared with ${base.what} ${short(base.digest)}`);
  const changes = approvalDiff(base?.profile, profile);
  if (base !== undefined && base.profile === undefined)
    out.push("  (that version's content is not in the store: showing the whole profile)");
  for (const line of formatApprovalDiff(changes)) out.push(`  ${line}`);
  if (changes.some((c) => c.widening)) out.push("  this WIDENS what the profile allows (lines marked +!)");
  for (const w of warnings) out.push(`  warning: ${w}`);
  return out;
}

async function approveInCluster(
  opts: ApproveOptions,
  ref: ProfileRef,
  deps: ApproveDeps,
  fail: (msg: string, code?: number) => number,
): Promise<number> {
  if (opts.by !== undefined)
    return fail("--by is single-host only: in cluster mode the approver is the kubeconfig user", 2);
  if (opts.store !== undefined || opts.state !== undefined) return fail("--store/--state need --dir", 2);
  let api: ClusterApprovalApi;
  try {
    api = deps.cluster ?? ClusterApprovalApi.load(opts.kubeconfig);
  } catch (err) {
    return fail(`no usable kubeconfig: ${(err as Error).message}`);
  }
  const who = Approver.safeParse(api.user);
  if (!who.success) return fail("the kubeconfig has no current user to record as the approver");
  const now = (deps.now ?? (() => new Date()))();
  try {
    const existing = await api.approval(ref);
    if (opts.revoke === true) {
      const r = existing?.spec;
      if (existing === undefined || r === undefined || r.revoked !== undefined)
        return fail(`${label(ref)} has no approval to revoke`);
      await api.save(
        { ...r, revoked: { by: who.data, at: now.toISOString() } },
        approvedSnapshot(existing),
        existing,
      );
      deps.stdout.write(
        `revoked the approval of ${label(ref)} ${short(r.digest)} (approved by ${r.approvedBy} at ${r.approvedAt}); revoked by ${who.data} at ${now.toISOString()}\n` +
          "installers will not install or update it until a new approval; files already installed stay until the profile is deleted\n",
      );
      return 0;
    }
    const raw = await api.profile(ref);
    if (raw === undefined) return fail(`${label(ref)} not found in the cluster`);
    const checked = await checkProfile(parseProfile(raw), ref, deps);
    if (typeof checked === "string") return fail(checked);
    const { profile, exact, digest, warnings } = checked;
    const current = existing?.spec;
    const out: string[] = [`${label(exact)} ${digest} (cluster)`];
    const installs = await api.installs(exact);
    for (const n of installs)
      out.push(
        `  node ${n.node}: ${n.state ?? "?"}${n.digest === undefined ? "" : `, installed ${short(n.digest)}`}`,
      );
    if (current?.digest === digest && current.revoked === undefined) {
      deps.stdout.write(
        `${out.join("\n")}\nalready approved by ${current.approvedBy} at ${current.approvedAt}\n`,
      );
      return 0;
    }
    const snapshot = existing === undefined ? undefined : approvedSnapshot(existing);
    const base: DiffBase | undefined =
      current === undefined
        ? undefined
        : {
            what: `the last approved version (${current.approvedBy}, ${current.approvedAt}${current.revoked === undefined ? "" : ", revoked"})`,
            digest: current.digest,
            profile: fromSnapshot(snapshot),
          };
    out.push(...diffLines(base, profile, warnings));
    const record: ApprovalRecord = {
      ...exact,
      digest,
      approvedBy: who.data,
      approvedAt: now.toISOString(),
    };
    await api.save(record, approvalDigestInput(profile), existing);
    out.push(`approved ${label(exact)} ${short(digest)} by ${who.data} at ${record.approvedAt}`);
    deps.stdout.write(`${out.join("\n")}\n`);
    return 0;
  } catch (err) {
    const status = (err as { code?: unknown }).code;
    return fail(
      `cluster API call failed: ${typeof status === "number" ? `HTTP ${status}: ` : ""}${(err as Error).message.split("\n")[0]}`,
    );
  }
}
