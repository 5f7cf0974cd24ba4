import {
  type ChangeAspect,
  diffProfilePair,
  diffProfiles,
  type ProfileChange,
  type ProfileDiff,
  summarize,
} from "@secprof/core";
import { InputError, type LoadedInput, loadProfiles } from "./load-profile.js";

export type DiffFormat = "text" | "markdown" | "json";

export interface DiffOptions {
  old: string;
  new: string;
  format: DiffFormat;
}

export interface DiffIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** Exit codes: nothing widened, NEW allows more, bad usage or input. */
export const DIFF_EXIT = { same: 0, widened: 1, usage: 2 } as const;

/**
 * Two single files holding one profile each are compared whatever their names (`old.json` vs
 * `new.json`); otherwise (directories, extracted bundles, multi-document YAML) profiles pair by
 * kind and name.
 */
export function diffInputs(o: LoadedInput, n: LoadedInput): ProfileDiff {
  const [op] = o.profiles;
  const [np] = n.profiles;
  if (
    !o.directory &&
    !n.directory &&
    o.profiles.length === 1 &&
    n.profiles.length === 1 &&
    op !== undefined &&
    np !== undefined &&
    op.profile.kind === np.profile.kind
  ) {
    const on = op.profile.metadata.name;
    const nn = np.profile.metadata.name;
    return summarize(diffProfilePair(op.profile, np.profile, on === nn ? nn : `${on} → ${nn}`));
  }
  return diffProfiles(
    o.profiles.map((p) => p.profile),
    n.profiles.map((p) => p.profile),
  );
}

export async function diffCommand(opts: DiffOptions, io: DiffIo): Promise<number> {
  let diff: ProfileDiff;
  try {
    const [o, n] = await Promise.all([loadProfiles(opts.old), loadProfiles(opts.new)]);
    diff = diffInputs(o, n);
  } catch (err) {
    if (err instanceof InputError || err instanceof RangeError || err instanceof TypeError) {
      io.stderr.write(`secprof diff: ${err.message}\n`);
      return DIFF_EXIT.usage;
    }
    throw err;
  }
  const labels = { old: opts.old, new: opts.new };
  io.stdout.write(
    opts.format === "json"
      ? `${JSON.stringify(diff, null, 2)}\n`
      : opts.format === "markdown"
        ? renderMarkdown(diff, labels)
        : renderText(diff, labels),
  );
  return diff.widened ? DIFF_EXIT.widened : DIFF_EXIT.same;
}

const ASPECT: Readonly<Record<ChangeAspect, string>> = {
  profile: "profile",
  "default-action": "default action",
  architecture: "architecture",
  flag: "flag",
  "base-profile": "base profile",
  listener: "listener",
  state: "state",
  syscall: "syscall",
  mode: "mode",
  inherit: "inherit",
  permission: "allow",
  path: "path",
  capability: "capability",
  network: "network",
};

const SYMBOL = { added: "+", removed: "-", changed: "~" } as const;

/** Control characters (a path can hold anything) never reach the terminal raw. */
const clean = (s: string) =>
  s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);

function what(c: ProfileChange): { subject: string; from?: string; to?: string } {
  if (c.aspect === "profile") return { subject: "" };
  const out: { subject: string; from?: string; to?: string } = { subject: c.subject };
  const shown = (v: string | undefined) => (v === c.subject && c.op !== "changed" ? undefined : v);
  const from = shown(c.before);
  const to = shown(c.after);
  if (from !== undefined) out.from = from;
  if (to !== undefined) out.to = to;
  return out;
}

function summaryLine(diff: ProfileDiff): string {
  const n = diff.changes.length;
  if (n === 0) return "No changes.";
  const w = diff.changes.filter((c) => c.widening).length;
  const profiles = new Set(diff.changes.map((c) => `${c.kind}/${c.profile}`)).size;
  const counted = `${n} change${n === 1 ? "" : "s"} in ${profiles} profile${profiles === 1 ? "" : "s"}`;
  return w === 0
    ? `NEW allows nothing OLD did not (${counted}).`
    : `NEW allows more than OLD: ${w} of ${counted} widen.`;
}

function grouped(diff: ProfileDiff): Map<string, ProfileChange[]> {
  const m = new Map<string, ProfileChange[]>();
  for (const c of diff.changes) {
    const k = `${c.kind} ${c.profile}`;
    const list = m.get(k);
    if (list === undefined) m.set(k, [c]);
    else list.push(c);
  }
  return m;
}

export function renderText(diff: ProfileDiff, labels: { old: string; new: string }): string {
  const lines = [`--- ${clean(labels.old)}`, `+++ ${clean(labels.new)}`];
  for (const [profile, changes] of grouped(diff)) {
    lines.push("", clean(profile));
    for (const c of changes) {
      const w = what(c);
      const value =
        w.from !== undefined && w.to !== undefined
          ? `: ${w.from} → ${w.to}`
          : w.to !== undefined
            ? `: ${w.to}`
            : w.from !== undefined
              ? `: ${w.from}`
              : "";
      const head = c.aspect === "profile" ? `profile ${c.op}` : `${ASPECT[c.aspect]} ${w.subject}${value}`;
      lines.push(`  ${SYMBOL[c.op]} ${clean(head)}${c.widening ? "   [widens]" : ""}`);
      if (c.note !== undefined) lines.push(`      (${clean(c.note)})`);
    }
  }
  lines.push("", summaryLine(diff));
  return `${lines.join("\n")}\n`;
}

/** Inline code that survives any content: no backticks, pipes escaped for tables, no newlines. */
function code(s: string | undefined): string {
  if (s === undefined || s === "") return "";
  return `\`${clean(s).replace(/`/g, "'").replace(/\|/g, "\\|")}\``;
}

const MAX_MARKDOWN_ROWS = 400;

/** A pull-request comment: a verdict line and one table row per change (capped). */
export function renderMarkdown(diff: ProfileDiff, labels: { old: string; new: string }): string {
  const verdict = diff.widened ? "⚠️ **NEW allows more than OLD**" : "✅ **NEW allows nothing OLD did not**";
  const out = [`### secprof diff: ${diff.changes.length === 0 ? "no changes" : verdict}`, ""];
  out.push(`Comparing ${code(labels.old)} → ${code(labels.new)}. ${summaryLine(diff)}`, "");
  if (diff.changes.length === 0) return `${out.join("\n")}\n`;
  out.push("| | Profile | Change | Before | After | |", "|---|---|---|---|---|---|");
  const rows = diff.changes.slice(0, MAX_MARKDOWN_ROWS);
  for (const c of rows) {
    const w = what(c);
    const change = c.aspect === "profile" ? `profile ${c.op}` : `${ASPECT[c.aspect]} ${code(w.subject)}`;
    const note = c.note === undefined ? "" : `<br><sub>${code(c.note)}</sub>`;
    out.push(
      `| ${SYMBOL[c.op] === "+" ? "➕" : SYMBOL[c.op] === "-" ? "➖" : "✏️"} | ${code(`${c.kind}/${c.profile}`)} | ${change}${note} | ${code(w.from)} | ${code(w.to)} | ${c.widening ? "⚠️ widens" : ""} |`,
    );
  }
  if (diff.changes.length > rows.length)
    out.push(
      "",
      `… and ${diff.changes.length - rows.length} more changes (run \`secprof diff\` locally for all).`,
    );
  return `${out.join("\n")}\n`;
}
