import { AuditParser, type ParserOptions } from "@secprof/core";

/**
 * How the recorder parses the audit log. RecorderCore turns only SECCOMP events (seccomp facts) and
 * kernel AVC denials (SELinux facts) into facts; AppArmor is recorded from eBPF facts, so its records
 * are skipped. Attribution reads an event's pid and time, and nothing reads an AVC's exe/comm, which
 * only its SYSCALL record has: so nothing is grouped, every line is classified in place, and only
 * SECCOMP and AVC lines are parsed. audit-parse.test.ts checks that the events the recorder uses are
 * the full parser's.
 */
export const RECORDER_PARSER_OPTIONS = {
  format: "auditd",
  kinds: ["syscall", "avc"],
  groupContext: false,
} as const satisfies ParserOptions;

export function recorderParser(): AuditParser {
  return new AuditParser(RECORDER_PARSER_OPTIONS);
}
