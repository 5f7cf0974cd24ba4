import { readdirSync } from "node:fs";
import { AuditParser, type ParsedEvent, type RawEvent } from "@secprof/core";
import { AUDIT_FIXTURES, fixtureLines } from "@secprof/testkit";
import { describe, expect, it } from "vitest";
import { recorderParser } from "./audit-parse.js";

const FIXTURES = readdirSync(AUDIT_FIXTURES, { recursive: true, encoding: "utf8" }).filter((f) =>
  f.endsWith(".log"),
);

function run(parser: AuditParser, lines: readonly string[]): ParsedEvent[] {
  const out: ParsedEvent[] = [];
  for (const [i, line] of lines.entries()) parser.push(line, i + 1, out);
  parser.flush(out);
  return out;
}

/**
 * What the recorder reads of an event (RecorderCore.addFact, the attribution resolver, main.ts's
 * deliver): SECCOMP events whole; AVC events without exe/comm, which the full parser copies from the
 * event's SYSCALL record. AppArmor events are not used. Sorted by line: grouped AVCs leave the full
 * parser at their event's end.
 */
function used(events: readonly ParsedEvent[]): { line: number; event: RawEvent }[] {
  return events
    .flatMap(({ line, event }): { line: number; event: RawEvent }[] => {
      if (event.kind === "syscall") return [{ line, event }];
      if (event.kind === "avc") return [{ line, event: { ...event, exe: null, comm: null } }];
      return [];
    })
    .sort((a, b) => a.line - b.line);
}

describe("the recorder's parser configuration", () => {
  it.each(FIXTURES)("gives the full parser's SECCOMP and AVC events for %s", (file) => {
    const lines = fixtureLines(file);
    const full = run(new AuditParser({ format: "auditd" }), lines);
    const ours = run(recorderParser(), lines);
    expect(used(ours)).toEqual(used(full));
    expect(ours.every((e) => e.event.kind === "syscall" || e.event.kind === "avc")).toBe(true);
  });

  it("the fixtures hold both kinds it uses, and AVCs the full parser groups with a SYSCALL record", () => {
    const all = FIXTURES.flatMap((f) => run(recorderParser(), fixtureLines(f)));
    expect(all.filter((e) => e.event.kind === "syscall").length).toBeGreaterThan(100);
    expect(all.filter((e) => e.event.kind === "avc").length).toBeGreaterThan(5);
    const grouped = FIXTURES.flatMap((f) => run(new AuditParser({ format: "auditd" }), fixtureLines(f)));
    expect(grouped.some((e) => e.event.kind === "avc" && e.event.exe !== null)).toBe(true);
  });

  it("drops the lines the full parser drops, for the same reasons (the recorder's drop metric)", () => {
    for (const file of FIXTURES) {
      const lines = fixtureLines(file);
      const full = new AuditParser({ format: "auditd" });
      const ours = recorderParser();
      run(full, lines);
      run(ours, lines);
      expect({ file, dropped: ours.stats.dropped }).toEqual({ file, dropped: full.stats.dropped });
    }
  });
});
