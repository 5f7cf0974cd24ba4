import { createHash } from "node:crypto";
import {
  ANNOTATION_PREFIX,
  type AppArmorAbstractOptions,
  type AppArmorFactsInput,
  type AppArmorLoss,
  type AvcOptions,
  type AvcTupleT,
  appArmorAbstract,
  appArmorProfileCR,
  type BundleFormat,
  bundleFileName,
  canonicalJson,
  ObjectName,
  ociSeccomp,
  type ProfileObject,
  renderProfile,
  type SeccompSources,
  seccompProfileCR,
  seccompProvenance,
  seccompSpec,
  selinuxAllowFromAvcs,
  selinuxProfileCR,
} from "@secprof/core";
import {
  type ActiveLsms,
  type LocalRecorder,
  type RunResult,
  type RuntimeCalibration,
  resolveCommand,
  runcRecording,
  runLocal,
} from "@secprof/recorder";
import { InvalidArgumentError } from "commander";
import { stringify } from "yaml";
import { writeFilesAtomically } from "./write-files.js";

export type RecorderName = "bpf" | "logs";

export interface RecordOptions {
  recorder: RecorderName;
  name: string;
  out: string;
  forRuntime: "runc" | undefined;
  argv: string[];
  /** Profile kinds to write (default: seccomp only). */
  kinds?: readonly RecordKind[];
}

export interface RecordDeps {
  /** `inContainer`: CMD is an OCI runtime starting the container to record; `kinds`: what to record. */
  makeRecorder: (name: RecorderName, inContainer: boolean, kinds: readonly RecordKind[]) => LocalRecorder;
  /** The MAC LSMs active in this kernel (whose audit records the log-based kinds need). */
  lsms: ActiveLsms;
  /** runc's post-filter syscalls measured over many runs on this machine (ADR 0002). */
  calibrateRunc: (recorder: RecorderName) => Promise<RuntimeCalibration | string>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  stderr: { write(s: string): unknown; isTTY?: boolean };
  interrupt: (stop: (signal: NodeJS.Signals) => void) => void;
}

/** PATH inside the container `--for runc` starts. */
const CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** EX_IOERR: profiles could not be written. */
const EXIT_WRITE_FAILED = 74;

function fail(deps: RecordDeps, msg: string, code: number): number {
  deps.stderr.write(`secprof record: ${msg}\n`);
  return code;
}

/** Starts the chosen recorder; if it cannot run here, falls back to the other with a warning. */
async function startRecorder(
  deps: RecordDeps,
  wanted: RecorderName,
  explicit: boolean,
  inContainer: boolean,
  kinds: readonly RecordKind[],
): Promise<LocalRecorder | string> {
  const first = deps.makeRecorder(wanted, inContainer, kinds);
  const problem = await first.start();
  if (problem === undefined) return first;
  if (explicit) return `the ${wanted} recorder cannot run: ${problem}`;
  const otherName: RecorderName = wanted === "bpf" ? "logs" : "bpf";
  const other = deps.makeRecorder(otherName, inContainer, kinds);
  const otherProblem = await other.start();
  if (otherProblem !== undefined)
    return `no recorder can run here.\n  ${wanted}: ${problem}\n  ${otherName}: ${otherProblem}`;
  deps.stderr.write(
    `secprof record: warning: the ${wanted} recorder cannot run (${problem}); using ${otherName}\n`,
  );
  return other;
}

function liveLine(
  deps: RecordDeps,
): ((ms: number, p: { syscalls: number; events: number }) => void) | undefined {
  if (deps.stderr.isTTY !== true) return undefined;
  let lastEvents = 0;
  return (ms, p) => {
    const rate = p.events - lastEvents;
    lastEvents = p.events;
    deps.stderr.write(
      `\r\x1b[2Ksecprof: ${(ms / 1000).toFixed(0)} s · ${p.syscalls} syscalls · ${rate} events/s`,
    );
  };
}

export async function record(
  opts: RecordOptions,
  deps: RecordDeps,
  recorderExplicit: boolean,
): Promise<number> {
  const name = ObjectName.safeParse(opts.name);
  if (!name.success)
    return fail(
      deps,
      `invalid --name ${JSON.stringify(opts.name)}: ${name.error.issues[0]?.message ?? "invalid"}`,
      2,
    );
  const cmd = opts.argv[0];
  if (cmd === undefined) return fail(deps, "no command given: secprof record [options] -- CMD [ARGS...]", 2);
  const inContainer = opts.forRuntime !== undefined;
  const resolved = await resolveCommand(cmd, inContainer ? CONTAINER_PATH : deps.env.PATH);
  if (!resolved.ok) return fail(deps, resolved.message, resolved.code);

  const kinds = opts.kinds ?? ["seccomp"];
  const rec = await startRecorder(deps, opts.recorder, recorderExplicit, inContainer, kinds);
  if (typeof rec === "string") return fail(deps, rec, 1);
  if (inContainer && rec.name === "bpf")
    deps.stderr.write(
      "secprof record: note: the bpf recorder sees the whole container namespace, including runc's set-up before the filter; the logs recorder gives the minimal profile\n",
    );
  const calibration = inContainer ? await deps.calibrateRunc(rec.name) : undefined;
  if (typeof calibration === "string") return fail(deps, `cannot measure runc: ${calibration}`, 1);
  const container = inContainer
    ? await runcRecording(opts.argv, rec.name, deps.cwd, { ...deps.env, PATH: CONTAINER_PATH })
    : undefined;
  const tick = liveLine(deps);
  let run: RunResult;
  try {
    run = await runLocal(rec, container?.argv ?? opts.argv, deps.env, {
      ...(tick === undefined ? {} : { onTick: tick }),
      interrupt: deps.interrupt,
    });
  } finally {
    await container?.cleanup();
  }
  if (tick !== undefined) deps.stderr.write("\r\x1b[2K");

  // The runtime's share: this run's, plus every earlier measured run of the same runc binary.
  if (calibration !== undefined && run.result.runtime !== undefined)
    await calibration.add(run.result.runtime);
  const sources: SeccompSources =
    calibration === undefined
      ? { workload: run.result.syscalls }
      : { workload: run.result.syscalls, runtime: calibration.syscalls };
  const files = kinds.includes("seccomp") ? renderSeccomp(opts.name, rec.name, sources, run) : new Map();
  const extra = recordedKinds(opts.name, kinds, rec.name, run, deps.lsms);
  for (const [f, content] of extra.files) files.set(f, content);
  try {
    await writeFilesAtomically(opts.out, files);
  } catch (err) {
    fail(deps, (err as Error).message, EXIT_WRITE_FAILED);
    return EXIT_WRITE_FAILED;
  }
  deps.stderr.write(summary(opts, rec.name, sources, run, files, extra));
  return run.exitCode;
}

/**
 * Why `recorder` cannot produce `kind` on this kernel, or undefined when it can. SELinux
 * profiles come from AVC records and AppArmor ones (for the logs recorder) from
 * `apparmor="ALLOWED"` records: both exist only when that LSM is active.
 */
export function kindUnavailable(
  kind: RecordKind,
  recorder: RecorderName,
  lsms: ActiveLsms,
): string | undefined {
  if (kind === "seccomp") return undefined;
  if (kind === "apparmor") {
    if (recorder === "bpf") return undefined;
    return lsms.apparmor
      ? "the logs recorder does not confine CMD in a complain-mode AppArmor profile in local mode; use --recorder bpf"
      : 'AppArmor is not active in this kernel, so there are no apparmor="ALLOWED" records to read; use --recorder bpf';
  }
  if (recorder === "bpf")
    return "SELinux profiles are built from AVC records in the audit log; eBPF does not see SELinux decisions (use --recorder logs on an SELinux kernel)";
  return lsms.selinux
    ? "the logs recorder does not run CMD in the permissive recording domain in local mode, so its AVCs cannot be told apart"
    : "SELinux is not active in this kernel, so there are no AVC records to build a policy from";
}

interface RecordedKinds extends RenderedKinds {
  /** Requested kinds this recorder could not produce here, with why. */
  unavailable: string[];
}

/** The AppArmor and SELinux files of a local recording, and the kinds it could not produce. */
function recordedKinds(
  name: string,
  kinds: readonly RecordKind[],
  recorder: RecorderName,
  run: RunResult,
  lsms: ActiveLsms,
): RecordedKinds {
  const unavailable: string[] = [];
  const render: RecordKind[] = [];
  const inputs: KindInputs = { annotations: { [`${ANNOTATION_PREFIX}/recorder`]: recorder } };
  const notes: string[] = [];
  for (const kind of kinds) {
    if (kind === "seccomp") continue;
    const why = kindUnavailable(kind, recorder, lsms);
    if (why !== undefined) {
      unavailable.push(`${kind}: ${why}`);
      continue;
    }
    const aa = run.result.apparmor;
    if (kind === "apparmor" && aa !== undefined) {
      if ("unavailable" in aa) unavailable.push(`apparmor: ${aa.unavailable}`);
      else {
        inputs.apparmor = { facts: aa.facts, loss: aa.loss };
        for (const why of aa.incomplete) notes.push(`apparmor: INCOMPLETE, ${why}`);
        render.push(kind);
      }
    } else unavailable.push(`${kind}: the ${recorder} recorder did not record it`);
  }
  const r = renderKinds(name, render, inputs);
  return { ...r, notes: [...notes, ...r.notes], unavailable };
}

function renderSeccomp(
  name: string,
  recorder: RecorderName,
  sources: SeccompSources,
  run: RunResult,
): Map<string, string> {
  const spec = seccompSpec(sources);
  const json = canonicalJson(ociSeccomp(spec));
  const prov = seccompProvenance(sources);
  const annotations: Record<string, string> = {
    [`${ANNOTATION_PREFIX}/recorder`]: recorder,
    [`${ANNOTATION_PREFIX}/syscall-sources`]: JSON.stringify({
      workload: prov.workload,
      runtime: prov.runtimeOnly,
    }),
  };
  if (run.result.incomplete.length > 0)
    annotations[`${ANNOTATION_PREFIX}/incomplete`] = run.result.incomplete.join("; ");
  const cr = seccompProfileCR({ name, annotations }, spec);
  return new Map([
    [`${name}.seccomp.json`, json],
    [`${name}.seccomp.yaml`, stringify(cr, { lineWidth: 0 })],
  ]);
}

function summary(
  opts: RecordOptions,
  recorder: RecorderName,
  sources: SeccompSources,
  run: RunResult,
  files: Map<string, string>,
  extra: RecordedKinds,
): string {
  const prov = seccompProvenance(sources);
  const spec = seccompSpec(sources);
  const lines = [
    "",
    `secprof: recorded \`${opts.argv.join(" ")}\` with the ${recorder} recorder in ${(run.durationMs / 1000).toFixed(2)} s (exit ${run.exitCode}${run.interrupted ? ", interrupted" : ""})`,
    `  arches:   ${(spec.architectures ?? []).join(", ") || "none"}`,
    `  syscalls: ${prov.workload.length} from the workload${sources.runtime === undefined ? "" : ` + ${prov.runtimeOnly.length} measured from ${opts.forRuntime}'s own start-up (${prov.runtimeOnly.join(", ") || "none"})`}`,
  ];
  for (const [file, content] of files) {
    lines.push(
      `  wrote    ${opts.out}/${file}  sha256:${createHash("sha256").update(content).digest("hex").slice(0, 16)}…`,
    );
  }
  if (run.result.incomplete.length > 0) {
    lines.push("  INCOMPLETE: the profile may miss syscalls:");
    for (const why of run.result.incomplete) lines.push(`    - ${why}`);
  }
  for (const n of extra.notes) lines.push(`  note:    ${n}`);
  for (const p of extra.problems) lines.push(`  NOT WRITTEN: ${p}`);
  for (const u of extra.unavailable) lines.push(`  cannot record ${u}`);
  return `${lines.join("\n")}\n`;
}

// ─── AppArmor and SELinux renderings (for `--kind seccomp,apparmor,selinux`) ────────────────

export const RECORD_KINDS = ["seccomp", "apparmor", "selinux"] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

/** `--kind seccomp,apparmor`: known kinds, each once, in the canonical order. */
export function parseKinds(value: string): RecordKind[] {
  const asked = value.split(",").map((k) => k.trim());
  const unknown = asked.filter((k) => !(RECORD_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0 || asked.length === 0)
    throw new InvalidArgumentError(
      `unknown kind(s) ${unknown.join(", ")}: choose from ${RECORD_KINDS.join(", ")}`,
    );
  return RECORD_KINDS.filter((k) => asked.includes(k));
}

export interface KindInputs {
  /** AppArmor facts: `AppArmorRecorder.facts(mntns)` or `factsFromApparmorEvents(...).facts`. */
  apparmor?: {
    facts: AppArmorFactsInput;
    /** `AppArmorRecorder.loss(mntns)` / `factsFromApparmorEvents(...).loss`: non-zero marks the profile incomplete. */
    loss?: AppArmorLoss;
    options?: AppArmorAbstractOptions;
  };
  /** SELinux AVC tuples (`avcTupleFromEvent` of the recorded AVC records). */
  selinux?: {
    avcs: Iterable<AvcTupleT>;
    options?: AvcOptions;
  };
  /** Put on every CR (e.g. `${ANNOTATION_PREFIX}/recorder`). */
  annotations?: Record<string, string>;
}

export interface RenderedKinds {
  /** File name → content: NAME.apparmor, NAME.apparmor.yaml, NAME.cil, NAME.selinux.yaml. */
  files: Map<string, string>;
  /** Things worth telling the user (facts left out, AVCs ignored, loss). */
  notes: string[];
  /** Kinds that could not be rendered, with why (e.g. an SELinux deny-list hit); no files for them. */
  problems: string[];
}

const lossText = (l: AppArmorLoss): string[] =>
  (Object.entries(l) as [keyof AppArmorLoss, number][])
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}: ${n}`);

/** The CR YAML and host file of a profile, or the reason it cannot be rendered. */
function crAndHost(cr: ProfileObject, host: BundleFormat, files: Map<string, string>): string | undefined {
  let rendered: ReturnType<typeof renderProfile>;
  try {
    rendered = renderProfile(cr);
  } catch (err) {
    return (err as Error).message;
  }
  const name = cr.metadata.name;
  for (const f of rendered.files) files.set(bundleFileName(cr.kind, name, host), f.content);
  files.set(bundleFileName(cr.kind, name, "cr-yaml"), stringify(cr, { lineWidth: 0 }));
  return undefined;
}

/**
 * Pure: the AppArmor and SELinux files of a recording named `name`, for the kinds asked for
 * (`seccomp` is the recorder's own flow and is ignored here). A requested kind without its input
 * is a TypeError (a wiring bug); a profile that cannot be rendered is reported in `problems`
 * and produces no files, so the caller can still write the other kinds.
 */
export function renderKinds(name: string, kinds: readonly RecordKind[], inputs: KindInputs): RenderedKinds {
  const files = new Map<string, string>();
  const notes: string[] = [];
  const problems: string[] = [];
  const base = inputs.annotations ?? {};

  if (kinds.includes("apparmor")) {
    const aa = inputs.apparmor;
    if (aa === undefined) throw new TypeError("renderKinds: apparmor requested without AppArmor facts");
    const { abstract, skipped } = appArmorAbstract(aa.facts, aa.options);
    for (const s of skipped) notes.push(`apparmor: left out ${s}`);
    const annotations = { ...base };
    const loss = aa.loss === undefined ? [] : lossText(aa.loss);
    if (loss.length > 0) {
      annotations[`${ANNOTATION_PREFIX}/incomplete`] = `apparmor facts lost: ${loss.join(", ")}`;
      notes.push(`apparmor: INCOMPLETE, facts lost (${loss.join(", ")})`);
    }
    const cr = appArmorProfileCR(
      Object.keys(annotations).length > 0 ? { name, annotations } : { name },
      abstract,
    );
    const problem = crAndHost(cr, "apparmor-text", files);
    if (problem !== undefined) problems.push(`apparmor: ${problem}`);
  }

  if (kinds.includes("selinux")) {
    const se = inputs.selinux;
    if (se === undefined) throw new TypeError("renderKinds: selinux requested without AVC tuples");
    const { allow, ignored } = selinuxAllowFromAvcs(se.avcs, se.options);
    if (ignored > 0) notes.push(`selinux: ignored ${ignored} AVC(s) of other source types`);
    let cr: ProfileObject | undefined;
    try {
      cr = selinuxProfileCR(
        Object.keys(base).length > 0 ? { name, annotations: { ...base } } : { name },
        allow,
      );
    } catch (err) {
      problems.push(`selinux: ${(err as Error).message}`);
    }
    if (cr !== undefined) {
      const problem = crAndHost(cr, "selinux-cil", files);
      if (problem !== undefined) problems.push(`selinux: ${problem}`);
    }
  }
  return { files, notes, problems };
}
