/**
 * Deterministic generator of a large auditd log (ENRICHED format) for parser benchmarks.
 *
 * Record shapes come from templates: real auditd lines. The built-in ones were captured on a
 * Debian 12 / kernel 6.18 machine running auditd 3.0.9 with `log_format = ENRICHED` (AVC and
 * AppArmor lines follow the kernel's format; that machine has neither LSM). Lines from
 * `packages/testkit/fixtures/audit/` replace the built-in templates of a kind when present.
 * Every `key=value` of a template is a slot; the generator fills in pids, serials, timestamps,
 * syscalls, arches, comm/exe (hex-encoded when the kernel would) and paths from a seeded PRNG.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ArchName, archInfo, syscallNumber } from "@secprof/core";

/** Bump when the generator's output changes for the same seed and templates. */
const GENERATOR_VERSION = 2;

/** This file's text, so that any edit to the generator invalidates cached corpora. */
function ownSource(): string {
  try {
    return readFileSync(fileURLToPath(import.meta.url), "utf8");
  } catch {
    return "";
  }
}

// ---------------------------------------------------------------------------------------------
// PRNG

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** mulberry32: uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const v = items[Math.floor(this.next() * items.length)];
    if (v === undefined) throw new RangeError("pick from an empty list");
    return v;
  }
  hex(digits: number): string {
    let s = "";
    for (let i = 0; i < digits; i++) s += "0123456789abcdef"[this.int(i === 0 ? 1 : 0, 15)];
    return s;
  }
}

/** Weighted choice over fixed weights, by binary search on the cumulative sums. */
class Weighted<T> {
  private readonly cum: number[] = [];
  private readonly items: T[] = [];
  private total = 0;
  constructor(pairs: readonly (readonly [T, number])[]) {
    for (const [item, w] of pairs) {
      if (w <= 0) continue;
      this.total += w;
      this.cum.push(this.total);
      this.items.push(item);
    }
  }
  pick(rng: Rng): T {
    const x = rng.next() * this.total;
    let lo = 0;
    let hi = this.cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.cum[mid] ?? 0) > x) hi = mid;
      else lo = mid + 1;
    }
    const v = this.items[lo];
    if (v === undefined) throw new RangeError("empty weighted list");
    return v;
  }
}

// ---------------------------------------------------------------------------------------------
// Templates

type Part = string | { key: string; orig: string };

interface Template {
  type: string;
  parts: Part[];
}

type Ctx = Record<string, string>;

const HEAD = /^(?:node=\S+ )?type=([A-Z][A-Z0-9_]*) msg=audit\(\d+\.\d{3}:\d+\): ?/;
const FIELD = /([A-Za-z][\w-]*)=("[^"]*"|'[^']*'|[^ \x1d]*)/g;

function compile(line: string): Template | undefined {
  const m = HEAD.exec(line);
  if (m?.[1] === undefined) return undefined;
  const body = line.slice(m[0].length);
  const parts: Part[] = [];
  let last = 0;
  for (const f of body.matchAll(FIELD)) {
    const at = f.index;
    const key = f[1];
    const value = f[2];
    if (key === undefined || value === undefined) continue;
    const before = body.charCodeAt(at - 1);
    if (at > 0 && before !== 32 && before !== 0x1d) continue;
    parts.push(body.slice(last, at + key.length + 1), { key, orig: value });
    last = at + f[0].length;
  }
  parts.push(body.slice(last));
  return { type: m[1], parts };
}

function keysOf(t: Template): Set<string> {
  const s = new Set<string>();
  for (const p of t.parts) if (typeof p !== "string") s.add(p.key);
  return s;
}

/** `ctx` overrides field values by key; `ctx.$body` replaces the whole body. */
function render(t: Template, id: string, ctx: Ctx, node: string | undefined): string {
  let s =
    node === undefined
      ? `type=${t.type} msg=audit(${id}): `
      : `node=${node} type=${t.type} msg=audit(${id}): `;
  const body = ctx.$body;
  if (body !== undefined) return s + body;
  for (const p of t.parts) s += typeof p === "string" ? p : (ctx[p.key] ?? p.orig);
  return s;
}

function typeOf(line: string): string {
  return line.slice(line.indexOf("type=") + 5, line.indexOf(" msg="));
}

/** Template kinds; a line is one kind at most. */
type Kind =
  | "SECCOMP"
  | "SYSCALL"
  | "EXECVE"
  | "CWD"
  | "PATH"
  | "PROCTITLE"
  | "BPRM_FCAPS"
  | "SOCKADDR"
  | "EOE"
  | "AVC_SELINUX"
  | "AVC_APPARMOR"
  | "USER_AVC"
  | "USER_MSG"
  | "BPF"
  | "CONFIG_CHANGE"
  | "LOGIN"
  | "ANOM_ABEND";

function kindOf(t: Template, line: string): Kind | undefined {
  const k = keysOf(t);
  const has = (...names: string[]) => names.every((n) => k.has(n));
  switch (t.type) {
    case "SECCOMP":
      return has("pid", "comm", "exe", "arch", "syscall", "code") ? "SECCOMP" : undefined;
    case "SYSCALL":
      return has("arch", "syscall", "items", "pid", "comm", "exe") ? "SYSCALL" : undefined;
    case "EXECVE":
      return has("argc", "a0") ? "EXECVE" : undefined;
    case "CWD":
      return has("cwd") ? "CWD" : undefined;
    case "PATH":
      return has("item", "name", "nametype") ? "PATH" : undefined;
    case "PROCTITLE":
      return has("proctitle") ? "PROCTITLE" : undefined;
    case "BPRM_FCAPS":
      return has("fver") ? "BPRM_FCAPS" : undefined;
    case "SOCKADDR":
      return has("saddr") ? "SOCKADDR" : undefined;
    case "EOE":
      return k.size === 0 ? "EOE" : undefined;
    case "AVC":
      if (line.includes("): avc:  ") && /\{ [a-z_ ]+ \}/.test(line) && has("scontext", "tcontext", "tclass"))
        return "AVC_SELINUX";
      return has("apparmor", "operation", "profile", "pid", "comm") ? "AVC_APPARMOR" : undefined;
    case "USER_AVC":
      return has("pid", "msg") && line.includes("msg='avc:") ? "USER_AVC" : undefined;
    case "BPF":
      return has("prog-id", "op") ? "BPF" : undefined;
    case "CONFIG_CHANGE":
      return has("op", "res") ? "CONFIG_CHANGE" : undefined;
    case "LOGIN":
      return has("pid", "auid", "ses") ? "LOGIN" : undefined;
    case "ANOM_ABEND":
      return has("pid", "comm", "exe", "sig") ? "ANOM_ABEND" : undefined;
    default:
      return /^(USER_|CRED_|SERVICE_)/.test(t.type) && has("pid", "msg") ? "USER_MSG" : undefined;
  }
}

const GS = "\x1d";

/** Captured on the bench machine (auditd 3.0.9 ENRICHED), or kernel-format where it has no LSM. */
const BUILTIN_TEMPLATES: readonly string[] = [
  `type=SECCOMP msg=audit(1795704541.818:5): auid=777001 uid=0 gid=0 ses=1 pid=8061 comm="logall" exe="/tmp/proto/logall" sig=0 arch=c000003e syscall=59 compat=0 ip=0x7f59e699dad7 code=0x7ffc0000${GS}AUID="unknown(777001)" UID="root" GID="root" ARCH=x86_64 SYSCALL=unknown-syscall(-1)`,
  `type=SYSCALL msg=audit(1795704903.522:1224): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7f49fea210b1 a2=80000 a3=0 items=1 ppid=20114 pid=20293 auid=3070489304 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=10 comm="auditctl" exe="/usr/sbin/auditctl" key="secprof-fixture"${GS}ARCH=x86_64 SYSCALL=openat AUID="unknown(-1224477992)" UID="root" GID="root" EUID="root" SUID="root" FSUID="root" EGID="root" SGID="root" FSGID="root"`,
  `type=EXECVE msg=audit(1795704903.534:1241): argc=7 a0="auditctl" a1="-w" a2="/tmp/secprof-audit-fx.dVMVJl/watched" a3="-p" a4="wa" a5="-k" a6="secprof-fixture-watch"`,
  `type=CWD msg=audit(1795704903.522:1223): cwd="/work/main"`,
  `type=PATH msg=audit(1795704903.522:1223): item=0 name="/usr/sbin/auditctl" inode=15884290 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0${GS}OUID="root" OGID="root"`,
  `type=PROCTITLE msg=audit(1795704451.842:3): proctitle=617564697463746C002D620038313932`,
  `type=BPRM_FCAPS msg=audit(1795704903.522:1223): fver=0 fp=0 fi=0 fe=0 old_pp=000001fffeffffff old_pi=0 old_pe=000001fffeffffff old_pa=0 pp=000001fffeffffff pi=0 pe=000001fffeffffff pa=0 frootid=0`,
  `type=SOCKADDR msg=audit(1795704903.526:1232): saddr=100000000000000000000000${GS}SADDR={ saddr_fam=netlink nlnk-fam=16 nlnk-pid=0 }`,
  `type=EOE msg=audit(1795704943.514:1631): `,
  `type=AVC msg=audit(1795704610.120:901): avc:  denied  { read } for  pid=2314 comm="nginx" name="index.html" dev="vda1" ino=393240 scontext=system_u:system_r:httpd_t:s0 tcontext=unconfined_u:object_r:user_home_t:s0 tclass=file permissive=0`,
  `type=AVC msg=audit(1795704610.120:902): avc:  denied  { search } for  pid=2314 comm="nginx" name="www" dev="vda1" ino=393001 scontext=system_u:system_r:httpd_t:s0 tcontext=system_u:object_r:var_t:s0 tclass=dir permissive=1`,
  `type=AVC msg=audit(1795704610.120:903): avc:  denied  { name_connect } for  pid=2314 comm="php-fpm" dest=5432 scontext=system_u:system_r:httpd_t:s0 tcontext=system_u:object_r:postgresql_port_t:s0 tclass=tcp_socket permissive=0`,
  `type=AVC msg=audit(1795704610.120:904): avc:  denied  { read write open } for  pid=2314 comm="containerd-shim" path="/dev/fuse" dev="devtmpfs" ino=1047 scontext=system_u:system_r:container_t:s0:c120,c458 tcontext=system_u:object_r:fuse_device_t:s0 tclass=chr_file permissive=0`,
  `type=AVC msg=audit(1795704610.120:905): avc:  denied  { net_admin } for  pid=2314 comm="iptables" capability=12  scontext=system_u:system_r:container_t:s0:c1,c2 tcontext=system_u:system_r:container_t:s0:c1,c2 tclass=capability permissive=0`,
  `type=AVC msg=audit(1795704620.300:950): apparmor="DENIED" operation="open" class="file" profile="docker-default" name="/etc/shadow" pid=3051 comm="cat" requested_mask="r" denied_mask="r" fsuid=0 ouid=0${GS}FSUID="root" OUID="root"`,
  `type=AVC msg=audit(1795704620.300:951): apparmor="ALLOWED" operation="mknod" class="file" profile="/usr/sbin/nginx" name="/var/lib/nginx/body/0000000001" pid=3051 comm="nginx" requested_mask="c" denied_mask="c" fsuid=33 ouid=33${GS}FSUID="www-data" OUID="www-data"`,
  `type=AVC msg=audit(1795704620.300:952): apparmor="DENIED" operation="capable" class="cap" profile="docker-default" pid=3051 comm="ip" capability=12  capname="net_admin"`,
  `type=AVC msg=audit(1795704620.300:953): apparmor="DENIED" operation="create" class="net" profile="cri-containerd.apparmor.d" pid=3051 comm="ping" family="inet" sock_type="raw" protocol=1 requested_mask="create" denied_mask="create"`,
  `type=AVC msg=audit(1795704620.300:954): apparmor="DENIED" operation="exec" class="file" profile=2F6F70742F6D79206170702F62696E2F617070 name="/usr/bin/curl" pid=3051 comm="app" requested_mask="x" denied_mask="x" fsuid=0 ouid=0 target=2F6F70742F6D79206170702F62696E2F6170702F2F7573722F62696E2F6375726C${GS}FSUID="root" OUID="root"`,
  `type=USER_AVC msg=audit(1795704950.770:1811): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='avc:  denied  { status } for auid=0 uid=0 gid=0 path="/usr/lib/systemd/system/nginx.service" cmdline="/usr/bin/systemctl status nginx" function="mac_selinux_filter" scontext=system_u:system_r:unconfined_service_t:s0 tcontext=system_u:object_r:systemd_unit_file_t:s0 tclass=service permissive=0  exe="/usr/lib/systemd/systemd" sauid=0 hostname=? addr=? terminal=?'${GS}UID="root" AUID="unset" SAUID="root"`,
  `type=USER_START msg=audit(1795704660.242:208): pid=17039 uid=0 auid=777004 ses=4 msg='op=PAM:session_open grantors=pam_env,pam_env,pam_mail,pam_limits,pam_permit,pam_unix acct="nobody" exe="/usr/bin/su" hostname=? addr=? terminal=? res=success'${GS}UID="root" AUID="unknown(777004)"`,
  `type=USER_END msg=audit(1795704660.246:209): pid=17039 uid=0 auid=777004 ses=4 msg='op=PAM:session_close grantors=pam_env,pam_env,pam_mail,pam_limits,pam_permit,pam_unix acct="nobody" exe="/usr/bin/su" hostname=? addr=? terminal=? res=success'${GS}UID="root" AUID="unknown(777004)"`,
  `type=USER_ACCT msg=audit(1795704660.238:206): pid=17039 uid=0 auid=777004 ses=4 msg='op=PAM:accounting grantors=pam_permit acct="nobody" exe="/usr/bin/su" hostname=? addr=? terminal=? res=success'${GS}UID="root" AUID="unknown(777004)"`,
  `type=CRED_ACQ msg=audit(1795704660.238:207): pid=17039 uid=0 auid=777004 ses=4 msg='op=PAM:setcred grantors=pam_rootok acct="nobody" exe="/usr/bin/su" hostname=? addr=? terminal=? res=success'${GS}UID="root" AUID="unknown(777004)"`,
  `type=SERVICE_START msg=audit(1795704700.100:230): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='unit=systemd-tmpfiles-clean comm="systemd" exe="/usr/lib/systemd/systemd" hostname=? addr=? terminal=? res=success'${GS}UID="root" AUID="unset"`,
  `type=BPF msg=audit(1795704549.506:62): prog-id=97 op=LOAD`,
  `type=CONFIG_CHANGE msg=audit(1795704903.526:1232): auid=3070489304 ses=10 op=add_rule key="secprof-fixture" list=4 res=1${GS}AUID="unknown(-1224477992)"`,
  `type=LOGIN msg=audit(1795704541.818:4): pid=8061 uid=0 old-auid=4294967295 auid=777001 tty=(none) old-ses=4294967295 ses=1 res=1${GS}UID="root" OLD-AUID="unset" AUID="unknown(777001)"`,
  `type=ANOM_ABEND msg=audit(1795704700.758:222): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=17610 comm="bpftrace" exe="/usr/bin/bpftrace" sig=6 res=1${GS}AUID="unset" UID="root" GID="root"`,
];

export interface TemplateSet {
  byKind: Map<Kind, Template[]>;
  /** Where each kind's templates came from. */
  source: Record<string, "builtin" | "fixture">;
  /** Hash of everything that decides the output for a seed. */
  hash: string;
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile() && statSync(p).size < 16 << 20) out.push(p);
  }
  return out;
}

/** Balanced double quotes in the raw part: a cheap guard against truncated fixture lines. */
function wellFormed(line: string): boolean {
  const gs = line.indexOf(GS);
  const raw = gs < 0 ? line : line.slice(0, gs);
  let q = 0;
  for (let i = 0; i < raw.length; i++) if (raw.charCodeAt(i) === 34) q++;
  return q % 2 === 0 && !raw.includes("\r");
}

/**
 * Built-in templates, with the kinds found in `fixtureDir` (auditd-form lines only) replacing
 * them. Per kind, ENRICHED lines are preferred, and at most 8 distinct shapes are kept.
 */
export function loadTemplates(fixtureDir: string | undefined): TemplateSet {
  const collect = (lines: Iterable<string>) => {
    const m = new Map<Kind, { line: string; t: Template }[]>();
    for (const line of lines) {
      if (line.length > 16_384 || !wellFormed(line)) continue;
      const t = compile(line);
      if (t === undefined) continue;
      const kind = kindOf(t, line);
      if (kind === undefined) continue;
      const list = m.get(kind) ?? [];
      list.push({ line, t });
      m.set(kind, list);
    }
    return m;
  };
  const pick = (cands: { line: string; t: Template }[]) => {
    const enriched = cands.filter((c) => c.line.includes(GS));
    const pool = enriched.length > 0 ? enriched : cands;
    const seen = new Set<string>();
    const out: { line: string; t: Template }[] = [];
    for (const c of pool) {
      const shape = `${c.t.type} ${[...keysOf(c.t)].join(",")}`;
      if (seen.has(shape)) continue;
      seen.add(shape);
      out.push(c);
      if (out.length >= 8) break;
    }
    return out;
  };
  const builtin = collect(BUILTIN_TEMPLATES);
  const fixtures = collect(
    (function* () {
      for (const f of fixtureDir === undefined ? [] : listFiles(fixtureDir))
        yield* readFileSync(f, "latin1").split("\n");
    })(),
  );
  const byKind = new Map<Kind, Template[]>();
  const source: Record<string, "builtin" | "fixture"> = {};
  const hash = createHash("sha256").update(`v${GENERATOR_VERSION}\n${ownSource()}\n`);
  for (const [kind, cands] of builtin) {
    const fx = fixtures.get(kind);
    // The AVC kinds keep the built-in variety (permission sets, classes) unless fixtures have as many.
    const useFx = fx !== undefined && (!kind.startsWith("AVC_") || fx.length >= cands.length);
    const chosen = pick(useFx ? fx : cands);
    byKind.set(
      kind,
      chosen.map((c) => c.t),
    );
    source[kind] = useFx ? "fixture" : "builtin";
    for (const c of chosen) hash.update(`${kind}\t${c.line}\n`);
  }
  return { byKind, source, hash: hash.digest("hex").slice(0, 10) };
}

// ---------------------------------------------------------------------------------------------
// Workload model

/** How the kernel logs an untrusted string: quoted, or upper-case hex when it has to be. */
export function kernelString(s: string): string {
  const b = Buffer.from(s, "utf8");
  for (const c of b) if (c === 0x22 || c < 0x21 || c > 0x7e) return b.toString("hex").toUpperCase();
  return `"${s}"`;
}

function proctitle(argv: readonly string[]): string {
  const b = Buffer.from(argv.join("\0"), "utf8").subarray(0, 128);
  for (const c of b) if (c === 0x22 || c < 0x21 || c > 0x7e) return b.toString("hex").toUpperCase();
  return `"${b.toString("latin1")}"`;
}

function auidText(auid: number): string {
  if (auid === 4294967295) return `"unset"`;
  if (auid === 0) return `"root"`;
  return `"unknown(${auid | 0})"`;
}

const SYSCALL_NAMES = [
  "read",
  "write",
  "futex",
  "openat",
  "close",
  "newfstatat",
  "fstat",
  "mmap",
  "epoll_wait",
  "recvfrom",
  "sendto",
  "mprotect",
  "brk",
  "rt_sigaction",
  "rt_sigprocmask",
  "ioctl",
  "pread64",
  "lseek",
  "munmap",
  "getrandom",
  "access",
  "faccessat2",
  "statx",
  "fcntl",
  "getdents64",
  "socket",
  "connect",
  "recvmsg",
  "sendmsg",
  "epoll_ctl",
  "epoll_pwait",
  "pipe2",
  "clone3",
  "clone",
  "execve",
  "exit_group",
  "getpid",
  "gettid",
  "prctl",
  "arch_prctl",
  "set_tid_address",
  "set_robust_list",
  "rseq",
  "prlimit64",
  "madvise",
  "nanosleep",
  "clock_nanosleep",
  "uname",
  "readlinkat",
  "sched_yield",
  "mmap2",
  "fstat64",
  "_llseek",
  "socketcall",
  "bpf",
  "io_uring_setup",
  "keyctl",
  "mount",
  "unshare",
  "setns",
  "capset",
];

function syscallTable(arch: ArchName): Weighted<number> {
  const pairs: [number, number][] = [];
  SYSCALL_NAMES.forEach((name, i) => {
    const nr = syscallNumber(arch, name);
    if (nr !== undefined) pairs.push([nr, 1 / (i + 1) ** 0.9]);
  });
  return new Weighted(pairs);
}

interface Proc {
  /** Plain name, for proctitles. */
  name: string;
  pid: number;
  ppid: number;
  ses: number;
  auid: number;
  comm: string;
  exe: string;
  arch: ArchName;
  node: string | undefined;
}

/** [comm, exe, arch]: container and host workloads; some names need hex encoding. */
const PROGRAMS: readonly (readonly [string, string, ArchName, number])[] = [
  ["nginx", "/usr/sbin/nginx", "x86_64", 8],
  ["node", "/usr/local/bin/node", "x86_64", 8],
  ["python3", "/usr/bin/python3.11", "x86_64", 6],
  ["java", "/usr/lib/jvm/java-17-openjdk-amd64/bin/java", "x86_64", 5],
  ["GC Thread#0", "/usr/lib/jvm/java-17-openjdk-amd64/bin/java", "x86_64", 2],
  ["postgres", "/usr/lib/postgresql/15/bin/postgres", "x86_64", 4],
  ["redis-server", "/usr/bin/redis-server", "x86_64", 4],
  ["tokio-runtime-w", "/usr/local/bin/vector", "x86_64", 3],
  ["sh", "/bin/busybox", "x86_64", 5],
  ["ls", "/bin/busybox", "x86_64", 2],
  ["cat", "/bin/busybox", "x86_64", 2],
  ["runc:[2:INIT]", "/", "x86_64", 3],
  ["containerd-shim", "/usr/bin/containerd-shim-runc-v2", "x86_64", 2],
  ["coredns", "/coredns", "x86_64", 3],
  ["envoy", "/usr/local/bin/envoy", "x86_64", 3],
  ["Web Content", "/opt/my app/bin/app", "x86_64", 3],
  ["worker 1", "/srv/data pipeline/bin/worker", "x86_64", 2],
  ['say"hi"', "/opt/q/bin/say-hi", "x86_64", 1],
  ["hello32", "/tmp/proto/hello32", "x86", 4],
  ["wine-preloader", "/usr/lib/wine/wine-preloader", "x86", 2],
  ["x32nr", "/tmp/proto/x32nr", "x32", 3],
  ["nginx", "/usr/sbin/nginx", "aarch64", 5],
  ["envoy", "/usr/local/bin/envoy", "aarch64", 4],
  ["kube proxy", "/usr/local/bin/kube-proxy", "aarch64", 2],
];

const EXEC_PROGRAMS: readonly (readonly string[])[] = [
  ["/usr/bin/ls", "ls", "-la", "/var/log"],
  ["/usr/bin/cat", "cat", "/etc/os-release"],
  ["/usr/bin/python3.11", "python3", "-c", "print('hello world')"],
  ["/bin/busybox", "sh", "-c", "echo $PATH > /tmp/out.txt"],
  ["/usr/bin/curl", "curl", "-s", "http://10.0.0.1:8080/healthz"],
  ["/usr/bin/git", "git", "rev-parse", "HEAD"],
  ["/usr/sbin/iptables", "iptables", "-w", "-t", "nat", "-L", "KUBE-SERVICES"],
  ["/usr/bin/find", "find", "/srv/my data", "-name", "*.log"],
  ["/usr/bin/dash", "sh", "-c", "true"],
];

const WATCHED = [
  "/etc/passwd",
  "/etc/shadow",
  "/etc/ssl/certs/ca-certificates.crt",
  "/var/lib/app/data file.db",
];
const SCONTEXTS = [
  "system_u:system_r:httpd_t:s0",
  "system_u:system_r:container_t:s0:c120,c458",
  "system_u:system_r:init_t:s0",
  "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023",
];
const PROFILES = ["docker-default", "cri-containerd.apparmor.d", "/usr/sbin/nginx", "snap.lxd.daemon"];

/**
 * Event kinds of the workload: [name, relative share of lines, records per event (for weighting)].
 * The SECCOMP share is set by `seccompShare`; the others split the rest in these proportions.
 */
const MIX: readonly (readonly [EventKind, number, number])[] = [
  ["seccomp", 0, 1],
  ["exec", 18, 7.3],
  ["watch", 6, 4.3],
  ["avc", 5, 3.2],
  ["apparmor", 4, 3],
  ["user_avc", 0.5, 1],
  ["user", 4, 1],
  ["bpf", 3, 1],
  ["config", 1, 4],
  ["login", 1, 3],
  ["abend", 0.5, 1],
];
type EventKind =
  | "seccomp"
  | "exec"
  | "watch"
  | "avc"
  | "apparmor"
  | "user_avc"
  | "user"
  | "bpf"
  | "config"
  | "login"
  | "abend";

export interface CorpusOptions {
  lines: number;
  seed: number;
  dir: string;
  /** `packages/testkit/fixtures/audit`, or undefined for the built-in templates only. */
  fixtureDir: string | undefined;
  /** Share of multi-record events that end with an EOE record (auditd 3 itself writes none). */
  eoeShare?: number;
  /** Share of lines that are SECCOMP records (default 0.56). */
  seccompShare?: number;
}

export interface CorpusInfo {
  file: string;
  lines: number;
  bytes: number;
  seed: number;
  hash: string;
  templates: Record<string, "builtin" | "fixture">;
  /** Lines per record type. */
  recordTypes: Record<string, number>;
  /** Distinct audit events (one audit ID each). */
  events: number;
  /** Events per workload kind. */
  eventKinds: Record<string, number>;
  /** What the secprof parser should emit: SECCOMP records; plus every AVC/AppArmor/USER_AVC record. */
  expect: { seccomp: number; full: number };
  generatedMs: number;
}

interface Pending {
  id: string;
  node: string | undefined;
  lines: string[];
  next: number;
}

/** Generates the corpus unless a file for the same options and templates exists; returns its summary. */
export function ensureAuditCorpus(opts: CorpusOptions): CorpusInfo {
  const templates = loadTemplates(opts.fixtureDir);
  const eoeShare = opts.eoeShare ?? 0.3;
  const seccompShare = opts.seccompShare ?? 0.56;
  const base = join(
    opts.dir,
    `audit-${opts.lines}-s${opts.seed}-sc${seccompShare}-e${eoeShare}-${templates.hash}`,
  );
  const file = `${base}.log`;
  const meta = `${base}.json`;
  if (existsSync(file) && existsSync(meta)) {
    const info = JSON.parse(readFileSync(meta, "utf8")) as CorpusInfo;
    if (statSync(file).size === info.bytes) return info;
  }
  mkdirSync(opts.dir, { recursive: true });
  const t0 = performance.now();
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  const info: CorpusInfo = {
    file,
    lines: 0,
    bytes: 0,
    seed: opts.seed,
    hash: templates.hash,
    templates: templates.source,
    recordTypes: {},
    events: 0,
    eventKinds: {},
    expect: { seccomp: 0, full: 0 },
    generatedMs: 0,
  };
  try {
    generate(opts, templates, eoeShare, info, (text) => {
      info.bytes += writeSync(fd, text, null, "latin1");
    });
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  info.generatedMs = Math.round(performance.now() - t0);
  writeFileSync(meta, `${JSON.stringify(info, null, 2)}\n`);
  return info;
}

function generate(
  opts: CorpusOptions,
  templates: TemplateSet,
  eoeShare: number,
  info: CorpusInfo,
  write: (text: string) => void,
): void {
  const rng = new Rng(opts.seed);
  const tpl = (k: Kind): Template => rng.pick(templates.byKind.get(k) ?? []);
  const tables = new Map<ArchName, Weighted<number>>();
  const table = (a: ArchName) => {
    const t = tables.get(a) ?? syscallTable(a);
    tables.set(a, t);
    return t;
  };

  // A pool of processes; new ones replace old ones now and then (pid reuse is fine).
  const newProc = (): Proc => {
    const [comm, exe, arch] = progs.pick(rng);
    return {
      name: comm,
      pid: rng.int(300, 4_000_000),
      ppid: rng.int(1, 400_000),
      ses: rng.chance(0.7) ? 4294967295 : rng.int(1, 40),
      auid: rng.chance(0.7) ? 4294967295 : rng.pick([0, 1000, 777001, 3070489304]),
      comm: kernelString(comm.slice(0, 15)),
      exe: kernelString(exe),
      arch,
      node: arch === "aarch64" ? "arm-worker-1" : undefined,
    };
  };
  const progs = new Weighted(PROGRAMS.map((p) => [p, p[3]] as const));
  const procs: Proc[] = [];
  for (let i = 0; i < 96; i++) procs.push(newProc());
  // Zipf-like: a few processes produce most SECCOMP lines.
  const procPick = new Weighted(procs.map((_, i) => [i, 1 / (i + 1)] as const));
  const proc = (): Proc => procs[procPick.pick(rng)] ?? newProc();
  const hostProc = (): Proc => {
    for (;;) {
      const p = proc();
      if (p.node === undefined) return p;
    }
  };

  const seccompShare = opts.seccompShare ?? 0.56;
  const others = MIX.reduce((sum, [, share]) => sum + share, 0);
  const kinds = new Weighted(
    MIX.map(
      ([k, share, per]) =>
        [k, (k === "seccomp" ? seccompShare : ((1 - seccompShare) * share) / others) / per] as const,
    ),
  );
  let ms = 1795704541818;
  const serial = new Map<string, number>([
    ["", 4000],
    ["arm-worker-1", 912_000],
  ]);
  const nextId = (node: string | undefined): string => {
    const key = node ?? "";
    const s = (serial.get(key) ?? 0) + 1;
    serial.set(key, s);
    const sec = Math.floor(ms / 1000);
    return `${sec}.${String(ms % 1000).padStart(3, "0")}:${s}`;
  };
  let progId = 100;
  const open: Pending[] = [];
  let buf: string[] = [];
  const emit = (line: string) => {
    const type = typeOf(line);
    buf.push(line);
    info.lines++;
    info.recordTypes[type] = (info.recordTypes[type] ?? 0) + 1;
    if (buf.length >= 8192) {
      write(`${buf.join("\n")}\n`);
      buf = [];
    }
  };

  const syscallCtx = (p: Proc, name: string, items: number, extra: Ctx = {}): Ctx => ({
    arch: archInfo(p.arch === "x32" ? "x86_64" : p.arch).auditCode,
    syscall: String(syscallNumber(p.arch, name) ?? 0),
    success: "yes",
    exit: String(rng.int(0, 12)),
    a0: rng.hex(rng.int(1, 12)),
    a1: rng.hex(12),
    a2: rng.hex(rng.int(1, 5)),
    a3: rng.hex(1),
    items: String(items),
    ppid: String(p.ppid),
    pid: String(p.pid),
    auid: String(p.auid),
    ses: String(p.ses),
    comm: p.comm,
    exe: p.exe,
    ARCH: p.arch === "x86" ? "i386" : p.arch === "x32" ? "x86_64" : p.arch,
    SYSCALL: name,
    AUID: auidText(p.auid),
    ...extra,
  });
  const pathCtx = (item: number, name: string, nametype: string): Ctx => ({
    item: String(item),
    name: kernelString(name),
    inode: String(rng.int(2, 30_000_000)),
    nametype,
    mode: nametype === "PARENT" ? "040755" : rng.pick(["0100644", "0100755", "0100600"]),
  });

  while (info.lines < opts.lines) {
    // Records of events already started interleave with new events, as on a busy multi-CPU box.
    const head = open[0];
    if (head !== undefined && (open.length > 2 || rng.chance(0.85))) {
      const ev = rng.chance(0.9) ? head : rng.pick(open);
      const line = ev.lines[ev.next++];
      if (line !== undefined) emit(line);
      if (ev.next >= ev.lines.length) open.splice(open.indexOf(ev), 1);
      continue;
    }
    ms += rng.chance(0.4) ? 0 : rng.int(1, 2);
    if (rng.chance(0.002)) procs[rng.int(0, procs.length - 1)] = newProc();
    const kind = kinds.pick(rng);
    info.events++;
    info.eventKinds[kind] = (info.eventKinds[kind] ?? 0) + 1;
    const recs: [Kind, Ctx][] = [];
    let node: string | undefined;
    let multi = true;
    switch (kind) {
      case "seccomp": {
        const p = proc();
        node = p.node;
        const nr = table(p.arch).pick(rng);
        const code = rng.chance(0.97) ? "0x7ffc0000" : rng.chance(0.7) ? "0x50001" : "0x80000000";
        const ip =
          p.arch === "x86"
            ? `0x${rng.hex(7)}`
            : p.arch === "aarch64"
              ? `0xffff${rng.hex(8)}`
              : `0x7f${rng.hex(10)}`;
        recs.push([
          "SECCOMP",
          {
            auid: String(p.auid),
            ses: String(p.ses),
            pid: String(p.pid),
            comm: p.comm,
            exe: p.exe,
            arch: archInfo(p.arch === "x32" ? "x86_64" : p.arch).auditCode,
            syscall: String(nr),
            compat: p.arch === "x86" ? "1" : "0",
            ip,
            code,
            AUID: auidText(p.auid),
            ARCH: p.arch === "x86" ? "i386" : p.arch === "x32" ? "x86_64" : p.arch,
          },
        ]);
        info.expect.seccomp++;
        info.expect.full++;
        multi = false;
        break;
      }
      case "exec": {
        const parent = hostProc();
        const argv = rng.pick(EXEC_PROGRAMS);
        const exe = argv[0] ?? "/bin/true";
        const args = argv.slice(1);
        const p: Proc = {
          ...parent,
          name: args[0] ?? "x",
          pid: rng.int(300, 4_000_000),
          ppid: parent.pid,
          comm: kernelString((args[0] ?? "x").slice(0, 15)),
          exe: kernelString(exe),
          arch: "x86_64",
        };
        recs.push(["SYSCALL", syscallCtx(p, "execve", 2, { exit: "0", key: `"exec"` })]);
        if (rng.chance(0.1)) recs.push(["BPRM_FCAPS", {}]);
        // The template's aN fields cannot fit every argv: the body is written whole.
        const argvText = args.map((a, i) => ` a${i}=${kernelString(a)}`).join("");
        recs.push(["EXECVE", { $body: `argc=${args.length}${argvText}` }]);
        recs.push([
          "CWD",
          { cwd: kernelString(rng.pick(["/", "/root", "/srv/app", "/home/dev/my project"])) },
        ]);
        recs.push(["PATH", pathCtx(0, exe, "NORMAL")]);
        recs.push(["PATH", pathCtx(1, "/lib64/ld-linux-x86-64.so.2", "NORMAL")]);
        recs.push(["PROCTITLE", { proctitle: proctitle(args) }]);
        break;
      }
      case "watch": {
        const p = hostProc();
        const create = rng.chance(0.3);
        const target = rng.pick(WATCHED);
        const name = create ? "openat" : rng.pick(["openat", "openat", "newfstatat", "readlinkat"]);
        recs.push(["SYSCALL", syscallCtx(p, name, create ? 2 : 1, { key: `"watch"` })]);
        recs.push(["CWD", { cwd: kernelString("/") }]);
        if (create) {
          recs.push(["PATH", pathCtx(0, target.slice(0, target.lastIndexOf("/") + 1), "PARENT")]);
          recs.push(["PATH", pathCtx(1, target, "CREATE")]);
        } else recs.push(["PATH", pathCtx(0, target, "NORMAL")]);
        recs.push(["PROCTITLE", { proctitle: proctitle([p.name]) }]);
        break;
      }
      case "avc": {
        const p = hostProc();
        const n = rng.chance(0.2) ? 2 : 1;
        for (let i = 0; i < n; i++) {
          recs.push([
            "AVC_SELINUX",
            {
              pid: String(p.pid),
              comm: p.comm,
              ino: String(rng.int(2, 30_000_000)),
              scontext: rng.pick(SCONTEXTS),
            },
          ]);
          info.expect.full++;
        }
        recs.push([
          "SYSCALL",
          syscallCtx(p, rng.pick(["openat", "connect", "ioctl", "execve"]), 0, {
            success: "no",
            exit: "-13",
          }),
        ]);
        recs.push(["PROCTITLE", { proctitle: proctitle([p.name, "--serve"]) }]);
        break;
      }
      case "apparmor": {
        const p = hostProc();
        recs.push([
          "AVC_APPARMOR",
          {
            pid: String(p.pid),
            comm: p.comm,
            ...(rng.chance(0.8) ? { profile: `"${rng.pick(PROFILES)}"` } : {}),
          },
        ]);
        info.expect.full++;
        recs.push([
          "SYSCALL",
          syscallCtx(p, rng.pick(["openat", "socket", "execve", "capset"]), 0, {
            success: "no",
            exit: "-13",
          }),
        ]);
        recs.push(["PROCTITLE", { proctitle: proctitle([p.name]) }]);
        break;
      }
      case "user_avc": {
        recs.push(["USER_AVC", { pid: "1" }]);
        info.expect.full++;
        multi = false;
        break;
      }
      case "user": {
        const p = hostProc();
        recs.push([
          "USER_MSG",
          { pid: String(p.pid), auid: String(p.auid), ses: String(p.ses), AUID: auidText(p.auid) },
        ]);
        multi = false;
        break;
      }
      case "bpf":
        recs.push([
          "BPF",
          { "prog-id": String(rng.chance(0.5) ? ++progId : progId), op: rng.chance(0.5) ? "LOAD" : "UNLOAD" },
        ]);
        multi = false;
        break;
      case "config": {
        const p = hostProc();
        recs.push(["CONFIG_CHANGE", { auid: String(p.auid), ses: String(p.ses), AUID: auidText(p.auid) }]);
        recs.push(["SYSCALL", syscallCtx(p, "sendto", 0, { key: "(null)" })]);
        recs.push(["SOCKADDR", {}]);
        recs.push(["PROCTITLE", { proctitle: proctitle(["auditctl", "-w", "/etc/shadow", "-p", "wa"]) }]);
        break;
      }
      case "login": {
        const p = hostProc();
        const ses = String(rng.int(1, 400));
        recs.push(["LOGIN", { pid: String(p.pid), auid: "1000", ses, AUID: `"unknown(1000)"` }]);
        recs.push(["SYSCALL", syscallCtx(p, "write", 0, { key: "(null)" })]);
        recs.push(["PROCTITLE", { proctitle: proctitle(["sshd: dev [priv]"]) }]);
        break;
      }
      case "abend": {
        const p = hostProc();
        recs.push([
          "ANOM_ABEND",
          {
            pid: String(p.pid),
            comm: p.comm,
            exe: p.exe,
            ses: String(p.ses),
            auid: String(p.auid),
            AUID: auidText(p.auid),
          },
        ]);
        multi = false;
        break;
      }
    }
    if (multi && rng.chance(eoeShare)) recs.push(["EOE", {}]);
    const id = nextId(node);
    const lines = recs.map(([k, ctx]) => render(tpl(k), id, ctx, node));
    const first = lines[0];
    if (first === undefined) continue;
    emit(first);
    if (lines.length > 1) open.push({ id, node, lines, next: 1 });
  }
  // Finish events still open so no record is cut off.
  for (const ev of open) for (const line of ev.lines.slice(ev.next)) emit(line);
  if (buf.length > 0) write(`${buf.join("\n")}\n`);
}
