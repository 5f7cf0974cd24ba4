import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { idTimeAt, parseHeader } from "./line-form.js";
import { AuditParser, type ParsedEvent, type ParserOptions } from "./parser.js";
import { RECORD_TYPES, typeName } from "./record-types.js";

function parse(lines: string[], opts: ParserOptions = {}) {
  const p = new AuditParser(opts);
  const out: ParsedEvent[] = [];
  for (const [i, l] of lines.entries()) p.push(l, i + 1, out);
  p.flush(out);
  return { events: out, stats: p.stats };
}

const SECCOMP_BODY =
  'auid=0 uid=0 gid=0 ses=3 subj=unconfined pid=8061 comm="cat" exe="/usr/bin/cat" sig=0 arch=c000003e syscall=257 compat=0 ip=0x7f5e1c0a8b9d code=0x7ffc0000';
const AUDITD = `type=SECCOMP msg=audit(1795704541.818:5): ${SECCOMP_BODY}`;

/** Encodes a string the way the kernel's audit_log_untrustedstring does. */
function kernelString(s: string): string {
  const bytes = Buffer.from(s, "utf8");
  const needsHex = bytes.some((b) => b === 0x22 || b < 0x21 || b > 0x7e);
  return needsHex ? bytes.toString("hex").toUpperCase() : `"${s}"`;
}

describe("line forms", () => {
  it("reads an auditd raw SECCOMP record", () => {
    const { events } = parse([AUDITD]);
    expect(events).toHaveLength(1);
    expect(events[0]?.event).toMatchObject({
      kind: "syscall",
      source: "auditd",
      auditId: "1795704541.818:5",
      ts: 1795704541818,
      pid: 8061,
      ses: 3,
      comm: "cat",
      exe: "/usr/bin/cat",
      arch: "x86_64",
      nr: 257,
      name: "openat",
      action: "log",
    });
  });

  it("ignores auditd's enriched fields after 0x1d", () => {
    const { events } = parse([`${AUDITD}\x1dAUID="root" ARCH=x86_64 SYSCALL=execve pid=1 exe="/evil"`]);
    expect(events[0]?.event).toMatchObject({ pid: 8061, exe: "/usr/bin/cat", name: "openat" });
  });

  it.each([
    [
      "classic syslog with uptime",
      `Nov 26 14:47:01 node1 kernel: [  270.851234] audit: type=1326 audit(1795704541.818:5): ${SECCOMP_BODY}`,
      "syslog",
    ],
    [
      "classic syslog without uptime",
      `Nov  6 14:47:01 node1 kernel: audit: type=1326 audit(1795704541.818:5): ${SECCOMP_BODY}`,
      "syslog",
    ],
    [
      "ISO-8601 syslog",
      `2026-11-26T14:47:01.123456+00:00 node1 kernel: audit: type=1326 audit(1795704541.818:5): ${SECCOMP_BODY}`,
      "syslog",
    ],
    ["dmesg", `[  270.851234] audit: type=1326 audit(1795704541.818:5): ${SECCOMP_BODY}`, "kmsg"],
  ])("reads the %s form", (_name, line, source) => {
    const { events } = parse([line]);
    expect(events[0]?.event).toMatchObject({
      source,
      auditId: "1795704541.818:5",
      name: "openat",
      arch: "x86_64",
      pid: 8061,
    });
  });

  it("reads journald's short form (no audit id)", () => {
    const { events } = parse([`Nov 26 14:47:01 node1 audit[8061]: SECCOMP ${SECCOMP_BODY}`]);
    expect(events[0]?.event).toMatchObject({ source: "journal", auditId: null, name: "openat", pid: 8061 });
  });

  it("names a record's syscall with its own arch, not the host's", () => {
    const i386 = AUDITD.replace("arch=c000003e syscall=257", "arch=40000003 syscall=11");
    const arm64 = AUDITD.replace("arch=c000003e syscall=257", "arch=c00000b7 syscall=221");
    const x32 = AUDITD.replace("arch=c000003e syscall=257", `arch=c000003e syscall=${0x40000000 + 520}`);
    const { events } = parse([i386, arm64, x32]);
    expect(events.map((e) => e.event.kind === "syscall" && [e.event.arch, e.event.name])).toEqual([
      ["x86", "execve"],
      ["aarch64", "execve"],
      ["x32", "execve"],
    ]);
  });

  it("respects --format", () => {
    const syslog = `Nov 26 14:47:01 node1 kernel: audit: type=1326 audit(1795704541.818:5): ${SECCOMP_BODY}`;
    expect(parse([syslog], { format: "auditd" }).stats.dropped.not_audit).toBe(1);
    expect(parse([AUDITD], { format: "syslog" }).events).toHaveLength(0);
    expect(parse([syslog], { format: "syslog" }).events).toHaveLength(1);
  });
});

describe("forged input is not evidence", () => {
  it("drops audit-looking text inside a user-space message", () => {
    const forged = `type=USER msg=audit(1795704541.818:9): pid=1 uid=0 auid=0 ses=1 msg='type=SECCOMP msg=audit(1795704541.818:5): ${SECCOMP_BODY} exe="/usr/bin/cat" terminal=? res=success'`;
    const { events, stats } = parse([forged]);
    expect(events).toHaveLength(0);
    expect(stats.dropped.untrusted_source).toBe(1);
  });

  it("drops syslog lines from programs other than the kernel or journald's audit", () => {
    const { events, stats } = parse([
      `Nov 26 14:47:01 node1 logger: audit: type=1326 audit(1795704541.818:5): ${SECCOMP_BODY}`,
      `Nov 26 14:47:01 node1 myapp[77]: type=SECCOMP msg=audit(1795704541.818:5): ${SECCOMP_BODY}`,
    ]);
    expect(events).toHaveLength(0);
    expect(stats.dropped.untrusted_source).toBe(2);
  });

  it("does not let a value smuggle a field", () => {
    // A comm with a space or quote is hex-encoded by the kernel, so a real record cannot hold
    // ` pid=1` inside comm; a line that tries ends up with the tokens of the real fields.
    const comm = kernelString('x" pid=1 syscall=59');
    const { events } = parse([AUDITD.replace('comm="cat"', `comm=${comm}`)]);
    expect(events[0]?.event).toMatchObject({ pid: 8061, nr: 257, comm: 'x" pid=1 syscall=59' });
  });

  it("counts unknown arch and syscall numbers", () => {
    const { stats } = parse([
      AUDITD.replace("arch=c000003e", "arch=deadbeef"),
      AUDITD.replace("syscall=257", "syscall=99999"),
    ]);
    expect(stats.dropped.unknown_arch).toBe(1);
    expect(stats.dropped.unknown_syscall).toBe(1);
  });
});

describe("SELinux and AppArmor records", () => {
  const avc =
    'type=AVC msg=audit(1666691794.882:1434): avc:  denied  { write read open } for  pid=94509 comm="aide" path="/var/lib/aide" dev="vda1" ino=2 scontext=system_u:system_r:selinuxrecording.process:s0:c218,c875 tcontext=system_u:object_r:kubernetes_file_t:s0 tclass=file permissive=1';
  const syscall =
    'type=SYSCALL msg=audit(1666691794.882:1434): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c items=1 ppid=1 pid=94509 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="aide" exe="/usr/bin/aide" subj=system_u:system_r:selinuxrecording.process:s0 key=(null)';

  it("groups an AVC with its SYSCALL record until EOE and takes exe from it", () => {
    const { events, stats } = parse([avc, syscall, "type=EOE msg=audit(1666691794.882:1434): "]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      line: 1,
      event: {
        kind: "avc",
        denied: true,
        perms: ["open", "read", "write"],
        tclass: "file",
        tcontext: "system_u:object_r:kubernetes_file_t:s0",
        permissive: true,
        exe: "/usr/bin/aide",
        userSpace: false,
      },
    });
    expect(stats.incomplete).toBe(0);
  });

  it("flushes a group whose EOE never comes once newer records arrive", () => {
    const p = new AuditParser({ groupTimeoutMs: 2000 });
    const out: ParsedEvent[] = [];
    p.push(avc, 1, out);
    expect(out).toHaveLength(0);
    p.push(AUDITD.replace("1795704541.818:5", "1666691797.000:1500"), 2, out);
    expect(out.map((e) => e.event.kind)).toEqual(["avc", "syscall"]);
  });

  it("marks USER_AVC as user space", () => {
    const line =
      "type=USER_AVC msg=audit(1666691794.900:1440): pid=812 uid=81 auid=4294967295 ses=4294967295 subj=system_u:system_r:system_dbusd_t:s0-s0:c0.c1023 msg='avc:  denied  { send_msg } for msgtype=method_call interface=org.freedesktop.DBus dest=org.freedesktop.DBus spid=1 tpid=812 scontext=system_u:system_r:init_t:s0 tcontext=system_u:system_r:system_dbusd_t:s0 tclass=dbus permissive=0  exe=\"/usr/bin/dbus-daemon\" sauid=81 hostname=? addr=? terminal=?'";
    const { events } = parse([line]);
    expect(events[0]?.event).toMatchObject({
      kind: "avc",
      userSpace: true,
      tclass: "dbus",
      perms: ["send_msg"],
      permissive: false,
    });
  });

  it("reads AppArmor records in auditd, APPARMOR_* and printk forms, with hex names", () => {
    const name = kernelString("/tmp/a b");
    const lines = [
      `type=AVC msg=audit(1668191154.949:64): apparmor="ALLOWED" operation="open" profile="web" name=${name} pid=4166 comm="app" requested_mask="r" denied_mask="r" fsuid=0 ouid=0`,
      'type=APPARMOR_DENIED msg=audit(1668191154.950:65): apparmor="DENIED" operation="capable" profile="web" pid=4166 comm="app" capability=12 capname="net_admin"',
      'Nov 26 14:47:01 node1 kernel: audit: type=1400 audit(1668191154.951:66): apparmor="ALLOWED" operation="create" profile="web" pid=4166 comm="app" family="inet" sock_type="stream" protocol=6 requested_mask="create" denied_mask="create"',
    ];
    const { events } = parse(lines);
    expect(events.map((e) => e.event)).toMatchObject([
      {
        kind: "apparmor",
        apparmor: "ALLOWED",
        operation: "open",
        name: "/tmp/a b",
        requestedMask: "r",
        deniedMask: "r",
      },
      { kind: "apparmor", apparmor: "DENIED", operation: "capable", capname: "net_admin" },
      { kind: "apparmor", operation: "create", family: "inet", sockType: "stream", protocol: 6 },
    ]);
  });

  it("reads old-kernel APPARMOR_ALLOWED records that carry no apparmor= field (the type is the verdict)", () => {
    // The record libapparmor's own SWIG examples parse (AppArmor upstream,
    // libraries/libapparmor/swig: type=APPARMOR_ALLOWED, 2.6.31-era kernel, `w::` masks), and
    // the same body as the kernel's numeric type in printk form.
    const body =
      'operation="file_perm" pid=4064 parent=4002 profile="/usr/bin/gedit" requested_mask="w::" denied_mask="w::" fsuid=1000 ouid=1000 name="/home/jamie/.gnome2/accels/gedit"';
    const { events, stats } = parse([
      `type=APPARMOR_ALLOWED msg=audit(1257283891.471:2232): ${body}`,
      `Nov  3 21:31:31 host kernel: type=1503 audit(1257283892.123:2234): ${body}`,
      "type=APPARMOR_STATUS msg=audit(1257283893.000:2235): no fields worth anything",
    ]);
    expect(events.map((e) => e.event)).toMatchObject([
      {
        kind: "apparmor",
        apparmor: "ALLOWED",
        operation: "file_perm",
        profile: "/usr/bin/gedit",
        name: "/home/jamie/.gnome2/accels/gedit",
        requestedMask: "w::",
        pid: 4064,
      },
      { kind: "apparmor", apparmor: "DENIED", operation: "file_perm" },
    ]);
    // A record without an operation is still not an AppArmor event.
    expect(stats.dropped.malformed).toBe(1);
  });

  it("keeps a subj label with spaces as one value", () => {
    const line = AUDITD.replace("subj=unconfined", "subj=/usr/sbin/cupsd (enforce)");
    const { events } = parse([line]);
    expect(events[0]?.event).toMatchObject({ pid: 8061, name: "openat" });
  });
});

describe("properties", () => {
  it("never throws, whatever the input", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string(),
            fc.uint8Array().map((b) => Buffer.from(b).toString("latin1")),
          ),
        ),
        (lines) => {
          parse(lines);
          parse(lines, { kinds: ["syscall"] });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("never throws on mutations of real records", () => {
    fc.assert(
      fc.property(fc.nat(AUDITD.length), fc.string({ maxLength: 8 }), (at, ins) => {
        parse([AUDITD.slice(0, at) + ins + AUDITD.slice(at)]);
      }),
    );
  });

  it("round-trips quoted and hex-encoded strings", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 64, unit: "grapheme" }), (s) => {
        fc.pre(s !== "(null)" && !/^[0-9A-F]+$/.test(s));
        // Replacer functions: a generated "$&" must not be read as a replacement pattern.
        const line = AUDITD.replace('comm="cat"', () => `comm=${kernelString(s)}`).replace(
          'exe="/usr/bin/cat"',
          () => `exe=${kernelString(`/x/${s}`)}`,
        );
        const ev = parse([line]).events[0]?.event;
        expect(ev?.comm).toBe(s);
        expect(ev?.exe).toBe(`/x/${s}`);
      }),
    );
  });

  it("the SECCOMP fast path agrees with the full parser", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("c000003e", "40000003", "c00000b7", "C000003E"),
        fc.nat(400),
        fc.string({ maxLength: 20 }),
        fc.nat(99999),
        (arch, nr, comm, pid) => {
          const line = AUDITD.replace("arch=c000003e syscall=257", `arch=${arch} syscall=${nr}`)
            .replace('comm="cat"', `comm=${kernelString(comm || "x")}`)
            .replace("pid=8061", `pid=${pid}`);
          const full = parse([line]);
          const fast = parse([line], { kinds: ["syscall"] });
          expect(fast.events).toEqual(full.events);
          expect(fast.stats.dropped).toEqual(full.stats.dropped);
        },
      ),
    );
  });
});

describe("header shortcuts", () => {
  /** The audit id reading before the one-pass version (Number() per part). */
  function lenientIdTime(id: string): number | null {
    const colon = id.indexOf(":");
    const dot = id.indexOf(".");
    if (colon < 0 || dot < 0 || dot > colon) return null;
    const sec = Number(id.slice(0, dot));
    const ms = Number(id.slice(dot + 1, colon));
    const serial = Number(id.slice(colon + 1));
    if (
      !Number.isInteger(sec) ||
      !Number.isInteger(ms) ||
      !Number.isInteger(serial) ||
      colon === id.length - 1
    )
      return null;
    return sec * 1000 + ms;
  }

  it("idTimeAt reads every id as Number() did", () => {
    const idChar = fc.constantFrom(..."0123456789.:  +-eExXabf)".split(""));
    const id = fc.oneof(
      fc.array(idChar, { maxLength: 40 }).map((cs) => cs.join("")),
      fc
        .tuple(fc.nat(), fc.nat(999), fc.nat(), fc.string({ maxLength: 2 }))
        .map(([s, ms, n, x]) => `${s}.${String(ms).padStart(3, "0")}:${n}${x}`),
      fc.bigInt({ min: 0n, max: 10n ** 40n }).map((n) => `${n}.5:${n}`),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 3 }), id, fc.string({ maxLength: 3 }), (pre, s, post) => {
        expect(idTimeAt(pre + s + post, pre.length, pre.length + s.length)).toBe(lenientIdTime(s));
      }),
      { numRuns: 2000 },
    );
  });

  it("reads record type tokens as before (numbers, UNKNOWN[n], names)", () => {
    const typeFromToken = (tok: string) => {
      if (/^\d+$/.test(tok)) {
        const nr = Number(tok);
        return { type: typeName(nr) ?? `UNKNOWN[${nr}]`, typeNr: nr };
      }
      const m = /^UNKNOWN\[(\d+)\]$/.exec(tok);
      if (m?.[1] !== undefined) {
        const nr = Number(m[1]);
        return { type: typeName(nr) ?? tok, typeNr: nr };
      }
      return { type: tok, typeNr: new Map(Object.entries(RECORD_TYPES)).get(tok) };
    };
    const token = fc.oneof(
      fc.constantFrom(
        ...Object.keys(RECORD_TYPES),
        "USER_START",
        "CRED_ACQ",
        "BPF",
        "",
        "UNKNOWN[",
        "UNKNOWN[]",
        "UNKNOWN[12",
        "UNKNOWN[1]x",
        "UNKNOWN[a]",
        "UNKNOWN[1326]",
        "01326",
        "1326x",
        "USER_AVC1",
      ),
      fc.nat(3000).map(String),
      fc.nat(3000).map((n) => `UNKNOWN[${n}]`),
      fc.stringMatching(/^[A-Z0-9_[\]]{0,12}$/),
    );
    fc.assert(
      fc.property(token, (tok) => {
        const h = parseHeader(`type=${tok} msg=audit(1795704541.818:5): x=1`, "auditd");
        expect(typeof h === "string" ? h : { type: h.type, typeNr: h.typeNr }).toEqual(typeFromToken(tok));
      }),
      { numRuns: 1000 },
    );
  });
});

describe("event grouping", () => {
  /** The grouping as first written: a Map by audit id in arrival order, scanned on every record. */
  function referenceGrouping(
    recs: { type: string; sec: number; serial: number; k: number }[],
    timeoutMs: number,
    maxInFlight: number,
  ) {
    type G = { ts: number; primaries: number[]; exe: string | undefined; context: boolean };
    const groups = new Map<string, G>();
    const emitted: [number, string | null][] = [];
    let incomplete = 0;
    const close = (id: string, complete: boolean) => {
      const g = groups.get(id);
      if (g === undefined) return;
      groups.delete(id);
      if (!complete && g.context && g.exe === undefined) incomplete++;
      for (const line of g.primaries) emitted.push([line, g.exe ?? null]);
    };
    const expire = (now: number) => {
      for (const [id, g] of groups) {
        if (g.ts + timeoutMs > now) break;
        close(id, false);
      }
    };
    const group = (id: string, ts: number) => {
      let g = groups.get(id);
      if (g === undefined) {
        g = { ts, primaries: [], exe: undefined, context: false };
        groups.set(id, g);
      }
      return g;
    };
    for (const [i, r] of recs.entries()) {
      const id = `${r.sec}.000:${r.serial}`;
      const ts = r.sec * 1000;
      expire(ts);
      if (r.type === "AVC") {
        group(id, ts).primaries.push(i + 1);
        while (groups.size > maxInFlight) {
          const oldest = groups.keys().next();
          if (oldest.done) break;
          incomplete++;
          close(oldest.value, true);
        }
      } else if (r.type === "EOE") close(id, true);
      else {
        const g = group(id, ts);
        g.context = true;
        if (r.type === "SYSCALL") g.exe = `/e${r.k}`;
      }
    }
    expire(Number.POSITIVE_INFINITY);
    return { emitted, incomplete };
  }

  it("groups records by their whole audit id, in arrival order, with expiry and eviction", () => {
    const rec = fc.record({
      type: fc.constantFrom("AVC", "SYSCALL", "PATH", "EOE"),
      sec: fc.constantFrom(1000, 1001, 1002, 1003, 5000),
      serial: fc.constantFrom(1, 2),
      k: fc.nat(9),
    });
    fc.assert(
      fc.property(
        fc.array(rec, { maxLength: 60 }),
        fc.constantFrom(0, 2000, 1e9),
        fc.constantFrom(1, 2, 3, 4096),
        (recs, timeoutMs, maxInFlight) => {
          const lines = recs.map(({ type, sec, serial, k }) => {
            const head = `type=${type} msg=audit(${sec}.000:${serial}): `;
            if (type === "AVC")
              return `${head}avc:  denied  { read } for  pid=1 comm="x" scontext=a:b:c tcontext=a:b:c tclass=file permissive=0`;
            if (type === "SYSCALL") return `${head}arch=c000003e syscall=2 pid=1 comm="c${k}" exe="/e${k}"`;
            if (type === "PATH") return `${head}item=0 name="/x"`;
            return head;
          });
          const { events, stats } = parse(lines, { groupTimeoutMs: timeoutMs, maxInFlight });
          const want = referenceGrouping(recs, timeoutMs, maxInFlight);
          expect(events.map((e) => [e.line, e.event.exe])).toEqual(want.emitted);
          expect(stats.incomplete).toBe(want.incomplete);
        },
      ),
      { numRuns: 500 },
    );
  });
});
