import {
  APPROVAL_DIGEST_DOMAIN,
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
 * `secprof approve KIND/NAME --dir DIR [--revoke] [--by WHO] [--store FILE]`
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
  dir: string;
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
  const who = Approver.safeParse(approverOf(opts.by, deps.env));
  if (!who.success) return fail(`invalid --by: ${who.error.issues[0]?.message ?? "invalid"}`, 2);
  const now = (deps.now ?? (() => new Date()))();
  const store = new LocalApprovalStore(opts.store ?? LocalApprovalStore.defaultPath(opts.dir));

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
    const loaded = await loadProfileDir(opts.dir);
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
    if (matches.length === 0) return fail(`${label(ref)} not found in ${opts.dir}`);
    if (matches.length > 1)
      return fail(
        `${label(ref)} matches ${matches.length} objects (${matches.map((m) => m.d.source ?? "?").join(", ")}): name the namespace or remove the duplicate`,
      );
    const match = matches[0];
    if (match === undefined) return fail(`${label(ref)} not found`);
    const parsed = match.p;
    if (!parsed.ok) return fail(`refusing to approve ${label(ref)}: invalid: ${parsed.errors.join("; ")}`);
    const profile = parsed.profile;
    const exact = parsed.ref;
    const compilers = deps.validator === undefined ? new PolicyCompilers() : undefined;
    const prepared = await prepareHostFile(profile, { validator: deps.validator ?? compilers }).finally(() =>
      compilers?.dispose(),
    );
    if (!prepared.ok)
      return fail(`refusing to approve ${label(exact)}: invalid: ${prepared.errors.join("; ")}`);
    const digest = profileDigest(profile);

    const records = await store.records();
    const current = currentApproval(records, exact);
    const out: string[] = [`${label(exact)} ${digest} (${match.d.source ?? opts.dir})`];
    if (current?.digest === digest && current.revoked === undefined) {
      deps.stdout.write(`${out[0]}\nalready approved by ${current.approvedBy} at ${current.approvedAt}\n`);
      return 0;
    }

    // Diff against what is installed, else what was last approved.
    const base = await diffBase(opts, store, exact, current);
    if (base === undefined) out.push("  nothing installed or approved before: the whole profile is new");
    else out.push(`  compared with ${base.what} ${short(base.digest)}`);
    const changes = approvalDiff(base?.profile, profile);
    if (base !== undefined && base.profile === undefined)
      out.push("  (that version's content is not in the store: showing the whole profile)");
    for (const line of formatApprovalDiff(changes)) out.push(`  ${line}`);
    if (changes.some((c) => c.widening)) out.push("  this WIDENS what the profile allows (lines marked +!)");
    for (const w of prepared.warnings) out.push(`  warning: ${w}`);

    const record = await store.approve(exact, digest, who.data, now, approvalDigestInput(profile));
    out.push(
      `approved ${label(exact)} ${short(record.digest)} by ${record.approvedBy} at ${record.approvedAt}`,
    );
    deps.stdout.write(`${out.join("\n")}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ApprovalStoreError) return fail(err.message);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return fail(`${opts.dir}: no such directory`);
    throw err;
  }
}

async function diffBase(
  opts: ApproveOptions,
  store: LocalApprovalStore,
  ref: ProfileRef,
  current: ApprovalRecord | undefined,
): Promise<{ what: string; digest: string; profile: ProfileObject | undefined } | undefined> {
  const state = new LocalInstallState(opts.state ?? LocalInstallState.defaultPath(opts.dir));
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
