#!/usr/bin/env node
// derive-audit-variants.mjs FIXTURE_DIR
//
// Derives syslog / journald renderings of captured kernel audit records, deterministically, from
// files that capture-audit-fixtures.sh captured on the machine. Nothing written here is captured:
// each output is a documented transformation of captured files (see fixtures/audit/README.md).
//
//   derived/syslog-classic-kernel.log   <- kmsg-dmesg.log + kmsg-dmesg-iso.log
//       "Nov 26 14:47:01 HOST kernel: [  270.851234] audit: type=1326 audit(...): ..."
//       rsyslog RSYSLOG_TraditionalFileFormat of imklog lines, the kernel's [uptime] kept in the
//       message (imklog's default ParseKernelTimestamp=off). A kmsg record holding a newline is
//       written as one syslog line per text line, each with the record's prefix (as public
//       captures of dbus-daemon USER_AVC printk records show).
//   derived/syslog-iso8601-kernel.log   <- kmsg-dmesg-iso.log
//       "2026-11-26T14:47:01.123456+00:00 HOST kernel: audit: type=1326 audit(...): ..."
//       rsyslog RSYSLOG_FileFormat (RFC 3339 with microseconds), no [uptime]; lines split as above.
//   derived/journald-short-kernel.log   <- kmsg-dmesg-iso.log
//       "Nov 26 14:47:01 HOST kernel: audit: type=1326 audit(...): ..."   (journalctl -k, -o short)
//       continuation lines of a multi-line record are indented to the width of the line prefix.
//   derived/journald-short-audit.log    <- kmsg-dmesg.log (printk'd records), netlink-multicast-readlog.log,
//                                          netlink-multicast-user-forged.log
//       "Nov 26 14:47:01 HOST audit[1234]: SECCOMP auid=... code=0x7ffc0000"
//       journald's audit transport (systemd src/journal/journald-audit.c): MESSAGE is
//       "<TYPE_NAME> <body after 'audit(SEC.MSEC:SERIAL): '>", SYSLOG_IDENTIFIER=audit, _PID from the
//       record's pid= field before msg=', time = the record's own audit(...) time; records with an
//       empty body (EOE) are dropped; unknown types are named AUDIT%04d. Sorted by record time.
//   derived/enriched-separator-stripped.log <- runc-seccomp-log.log with every 0x1d byte removed
//       (what copy/paste of ENRICHED lines produces, as seen in public pastes).
//
// Times are rendered in UTC (the capture machine's zone). Hostname from capture-meta.txt, else os.hostname().
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: derive-audit-variants.mjs FIXTURE_DIR");
  process.exit(2);
}
const outDir = join(dir, "derived");
mkdirSync(outDir, { recursive: true });

let host = hostname();
const metaPath = join(dir, "capture-meta.txt");
if (existsSync(metaPath)) {
  const m = /^hostname=(.+)$/m.exec(readFileSync(metaPath, "latin1"));
  if (m) host = m[1];
}

// latin1 round-trips every byte unchanged (0x1d, UTF-8 sequences).
const readLines = (name) =>
  readFileSync(join(dir, name), "latin1")
    .split("\n")
    .filter((l) => l.length > 0);
const write = (name, lines) => {
  writeFileSync(join(outDir, name), lines.length ? `${lines.join("\n")}\n` : "", "latin1");
  console.error(`[derive-audit-variants] derived/${name}: ${lines.length} lines`);
};

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n, w = 2, c = "0") => String(n).padStart(w, c);
const hms = (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
// RFC 3164 / rsyslog traditional: day of month space-padded ("Sep  3").
const syslogStamp = (d) => `${MONTHS[d.getUTCMonth()]} ${pad(d.getUTCDate(), 2, " ")} ${hms(d)}`;
// journalctl -o short: day of month zero-padded ("Jan 01").
const journalStamp = (d) => `${MONTHS[d.getUTCMonth()]} ${pad(d.getUTCDate())} ${hms(d)}`;

// Record type numbers -> names (include/uapi/linux/audit.h; the names libaudit and systemd use).
const TYPE_NAMES = new Map([
  [1005, "USER"],
  [1006, "LOGIN"],
  [1100, "USER_AUTH"],
  [1101, "USER_ACCT"],
  [1103, "CRED_ACQ"],
  [1104, "CRED_DISP"],
  [1105, "USER_START"],
  [1106, "USER_END"],
  [1107, "USER_AVC"],
  [1300, "SYSCALL"],
  [1302, "PATH"],
  [1305, "CONFIG_CHANGE"],
  [1306, "SOCKADDR"],
  [1307, "CWD"],
  [1309, "EXECVE"],
  [1320, "EOE"],
  [1321, "BPRM_FCAPS"],
  [1326, "SECCOMP"],
  [1327, "PROCTITLE"],
  [1400, "AVC"],
  [1401, "SELINUX_ERR"],
]);
const NAME_TO_NUM = new Map([...TYPE_NAMES].map(([n, name]) => [name, n]));
const typeName = (n) => TYPE_NAMES.get(n) ?? `AUDIT${pad(n, 4)}`;

// ---------------------------------------------------------------- kmsg records
// dmesg: "[  270.851234] MESSAGE"; dmesg --time-format=iso: "2026-11-26T14:47:01,123456+00:00 MESSAGE".
// A record whose text holds newlines continues on lines indented to the prefix width.
const DMESG_RE = /^(\[\s*\d+\.\d+\]) (.*)$/;
const ISO_RE = /^((\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d),(\d{6})([+-]\d\d:\d\d)) (.*)$/;

const parseKmsg = (name, re, msgGroup) => {
  const records = [];
  for (const line of readLines(name)) {
    const m = re.exec(line);
    if (m) {
      records.push({ m, lines: [m[msgGroup]] });
      continue;
    }
    const last = records.at(-1);
    const width = last ? last.m[1].length + 1 : 0;
    if (!last || line.slice(0, width).trim() !== "")
      throw new Error(`${name}: unexpected line ${JSON.stringify(line)}`);
    last.lines.push(line.slice(width));
  }
  return records;
};

const dmesgRecs = parseKmsg("kmsg-dmesg.log", DMESG_RE, 2);
const isoRecs = parseKmsg("kmsg-dmesg-iso.log", ISO_RE, 10);
if (dmesgRecs.length !== isoRecs.length) {
  throw new Error(`kmsg-dmesg.log (${dmesgRecs.length}) and kmsg-dmesg-iso.log (${isoRecs.length}) differ`);
}

const classic = [];
const iso8601 = [];
const journalKernel = [];
const journalAudit = [];

// journald audit transport rendering of one kernel record (type number or name, text "audit(S.M:N): body").
const journalRecord = (type, text) => {
  const m = /^audit\((\d+)\.(\d+):(\d+)\):[ ]*([\s\S]*)$/.exec(text);
  if (!m) return undefined;
  const body = m[4];
  if (body.trim() === "") return undefined; // journald drops records with nothing after the header
  const when = new Date(Number(m[1]) * 1000 + Number(m[2]));
  const kernelPart = body.split(" msg='")[0];
  const pid = /(?:^| )pid=(\d+)/.exec(kernelPart)?.[1];
  const name = typeof type === "number" ? typeName(type) : type;
  const prefix = `${journalStamp(when)} ${host} ${pid ? `audit[${pid}]` : "audit"}: `;
  const [first, ...rest] = `${name} ${body}`.split("\n");
  const lines = [prefix + first, ...rest.map((l) => " ".repeat(prefix.length) + l)];
  return { order: [Number(m[1]), Number(m[2]), Number(m[3])], lines };
};

for (let i = 0; i < dmesgRecs.length; i++) {
  const d = dmesgRecs[i];
  const s = isoRecs[i];
  const uptime = d.m[1];
  const [, , Y, Mo, D, h, mi, se, us, tz] = s.m;
  if (d.lines.join("\n") !== s.lines.join("\n"))
    throw new Error(`kmsg record ${i + 1}: dmesg forms disagree`);
  if (d.lines[0].startsWith("secprof-fixture: ")) continue; // our /dev/kmsg markers
  if (tz !== "+00:00") throw new Error(`expected a UTC capture, got ${tz}`);
  const when = new Date(Date.UTC(Number(Y), Number(Mo) - 1, Number(D), Number(h), Number(mi), Number(se)));
  for (const line of d.lines) {
    classic.push(`${syslogStamp(when)} ${host} kernel: ${uptime} ${line}`);
    iso8601.push(`${Y}-${Mo}-${D}T${h}:${mi}:${se}.${us}${tz} ${host} kernel: ${line}`);
  }
  const jPrefix = `${journalStamp(when)} ${host} kernel: `;
  journalKernel.push(jPrefix + d.lines[0], ...d.lines.slice(1).map((l) => " ".repeat(jPrefix.length) + l));
  // printk form "audit: type=N audit(...): body" carries the same text journald gets over netlink
  const r = /^audit: type=(\d+) (audit\([\s\S]*)$/.exec(d.lines.join("\n"));
  if (r) {
    const rec = journalRecord(Number(r[1]), r[2]);
    if (rec) journalAudit.push(rec);
  }
}

// ---------------------------------------------------------------- netlink multicast captures
// "type=NAME msg=audit(...): body" per record. A user-space text may hold a raw newline; a line
// continues the previous record while that record's msg='...' quote is still open.
const parseNetlink = (name) => {
  const recs = [];
  for (const line of readLines(name)) {
    const last = recs.at(-1);
    const open =
      last && /msg='/.test(last.text.slice(last.text.indexOf("): ") + 3)) && !last.text.endsWith("'");
    if (open) {
      last.text += `\n${line}`;
      continue;
    }
    const m = /^type=(\S+) msg=(audit\([\s\S]*)$/.exec(line);
    if (!m) throw new Error(`${name}: unexpected line ${JSON.stringify(line)}`);
    recs.push({ type: m[1], text: m[2] });
  }
  return recs;
};
for (const file of ["netlink-multicast-readlog.log", "netlink-multicast-user-forged.log"]) {
  for (const { type, text } of parseNetlink(file)) {
    const unknown = /^UNKNOWN\[(\d+)\]$/.exec(type);
    const rec = journalRecord(unknown ? Number(unknown[1]) : (NAME_TO_NUM.get(type) ?? type), text);
    if (rec) journalAudit.push(rec);
  }
}

write("syslog-classic-kernel.log", classic);
write("syslog-iso8601-kernel.log", iso8601);
write("journald-short-kernel.log", journalKernel);
const byTime = (a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1] || a.order[2] - b.order[2];
write(
  "journald-short-audit.log",
  journalAudit.sort(byTime).flatMap((e) => e.lines),
);
write(
  "enriched-separator-stripped.log",
  readLines("runc-seccomp-log.log").map((l) => l.replaceAll("\x1d", "")),
);
