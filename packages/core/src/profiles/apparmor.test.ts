import { fixtureLines } from "@secprof/testkit";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AuditParser, type ParsedEvent } from "../audit/parser.js";
import type { AppArmorEvent } from "../schemas/events.js";
import type { AppArmorAbstract, AppArmorProfile } from "../schemas/profiles.js";
import {
  AppArmorRecorder,
  AppArmorRenderError,
  appArmorAbstract,
  appArmorProfileProblems,
  capabilityName,
  factsFromApparmorEvents,
  mergeAppArmorAbstracts,
  mergeAppArmorSpecs,
  normalizeAppArmorAbstract,
  renderAppArmorProfile,
} from "./apparmor.js";
import { patternMatches } from "./paths.js";

const NS = 4026532000;

describe("AppArmorRecorder: facts per mount namespace, bounded", () => {
  it("keeps normalised patterns with their access, per namespace", () => {
    const r = new AppArmorRecorder();
    r.add({ ...base, kind: "file", path: "/proc/4242/status", read: true, write: false, mntns: NS });
    r.add({ ...base, kind: "file", path: "/proc/4343/status", read: true, write: false, mntns: NS });
    r.add({ ...base, kind: "exec", path: "/usr/bin/curl", mntns: NS });
    r.add({ ...base, kind: "net", family: "inet6", protocol: "udp", mntns: NS });
    r.add({ ...base, kind: "net", family: "netlink", protocol: "other", mntns: NS });
    r.add({ ...base, kind: "cap", capability: "CAP_NET_ADMIN", mntns: NS });
    r.add({ ...base, kind: "cap", capability: "21", mntns: NS });
    r.add({ ...base, kind: "file", path: "/other-ns", read: true, write: false, mntns: 7 });
    expect(r.namespaces()).toEqual([7, NS]);
    expect(r.facts(NS)).toEqual({
      executables: ["/usr/bin/curl"],
      libraries: [],
      readPaths: ["/proc/@{pid}/status"],
      writePaths: [],
      capabilities: ["net_admin", "sys_admin"],
      network: ["udp"],
    });
  });

  it("caps paths per namespace and counts what it refused", () => {
    const r = new AppArmorRecorder({ maxPathsPerNamespace: 3 });
    for (let i = 0; i < 5; i++) r.file(NS, `/data/f${i}`, { read: true });
    r.file(NS, "/data/f0", { write: true }); // known pattern: still updated
    expect(r.facts(NS).readPaths).toEqual(["/data/f0", "/data/f1", "/data/f2"]);
    expect(r.facts(NS).writePaths).toEqual(["/data/f0"]);
    expect(r.loss(NS).truncated).toBe(2);
  });

  it("caps namespaces and counts the events it could not attribute", () => {
    const r = new AppArmorRecorder({ maxNamespaces: 1 });
    r.file(1, "/a", { read: true });
    r.file(2, "/b", { read: true });
    r.capability(2, "chown");
    expect(r.namespaces()).toEqual([1]);
    expect(r.loss(1).droppedNamespaceEvents).toBe(2);
  });

  it("applies SPO's special cases: HugeTLB, (deleted), runtime paths, unusable paths", () => {
    const r = new AppArmorRecorder();
    r.file(NS, "/anon_hugepage (deleted)", { read: true });
    r.file(NS, "/tmp/x (deleted)", { read: true });
    r.file(NS, "/usr/bin/runc", { spawn: true });
    r.file(NS, "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs", { read: true });
    r.file(NS, "relative/path", { read: true });
    r.capability(NS, 99);
    expect(r.facts(NS)).toMatchObject({ executables: [], readPaths: ["/"], writePaths: ["/"] });
    expect(r.loss(NS)).toMatchObject({ unusablePaths: 2, unknownCapabilities: 1 });
  });

  it("forgets a namespace", () => {
    const r = new AppArmorRecorder();
    r.file(NS, "/a", { read: true });
    r.forget(NS);
    expect(r.namespaces()).toEqual([]);
  });
});

const base = {
  source: "bpf" as const,
  ts: null,
  auditId: null,
  pid: 1,
  comm: null,
  exe: null,
  ses: null,
  mntns: null,
};

describe("capability names", () => {
  it("maps numbers by the table and accepts any case and a CAP_ prefix", () => {
    expect(capabilityName(0)).toBe("chown");
    expect(capabilityName(40)).toBe("checkpoint_restore");
    expect(capabilityName(41)).toBeUndefined();
    expect(capabilityName("CAP_SYS_ADMIN")).toBe("sys_admin");
    expect(capabilityName("audit")).toBeUndefined();
  });
});

function parseFixture(rel: string): AppArmorEvent[] {
  const p = new AuditParser();
  const out: ParsedEvent[] = [];
  for (const [i, l] of fixtureLines(rel).entries()) p.push(l, i + 1, out);
  p.flush(out);
  return out.flatMap((e) => (e.event.kind === "apparmor" ? [e.event] : []));
}

const aa = (over: Partial<AppArmorEvent>): AppArmorEvent => ({
  ...base,
  source: "auditd",
  kind: "apparmor",
  apparmor: "ALLOWED",
  operation: "open",
  profile: "app",
  name: null,
  requestedMask: null,
  deniedMask: null,
  capname: null,
  family: null,
  sockType: null,
  protocol: null,
  ...over,
});

describe("factsFromApparmorEvents: complain-mode ALLOWED records feed the same facts", () => {
  it("reads the public auditd fixture: ALLOWED records only, DENIED ones are not evidence", () => {
    const events = parseFixture("public/apparmor-auditd.log");
    const r = factsFromApparmorEvents(events, { profile: "/usr/sbin/secprof-demo" });
    expect(r.facts).toMatchObject({
      readPaths: ["/etc/ssl/openssl.cnf", "/proc/@{pid}/status"],
      // Line 13: the old `type=APPARMOR_ALLOWED` form without `apparmor=` (mask "w::").
      writePaths: ["/home/alice/.config/secprof/state"],
      network: ["tcp"],
      executables: [],
      capabilities: [],
    });
    expect(r.used).toBe(4);
    expect(r.used + r.skipped).toBe(events.length);
  });

  it("maps operations: exec, capable, sockets, file masks, mmap, directory operations", () => {
    const r = factsFromApparmorEvents([
      aa({ operation: "exec", name: "/usr/bin/curl", requestedMask: "x" }),
      aa({ operation: "capable", capname: "net_bind_service" }),
      aa({ operation: "create", family: "inet", sockType: "dgram", protocol: 17 }),
      aa({ operation: "connect", family: "inet6", sockType: null, protocol: 6 }),
      aa({ operation: "create", family: "inet", sockType: "raw", protocol: 1 }),
      aa({ operation: "create", family: "unix", sockType: "stream" }),
      aa({ operation: "create", family: "netlink", sockType: "raw" }),
      aa({ operation: "open", name: "/var/lib/app/db", requestedMask: "rw" }),
      aa({ operation: "file_perm", name: "/var/log/app.log", requestedMask: "a::" }),
      aa({ operation: "file_mmap", name: "/opt/app/lib/libx.so", requestedMask: "mr" }),
      aa({ operation: "mkdir", name: "/var/lib/app/tmp/", requestedMask: "c" }),
      aa({ operation: "unlink", name: "/var/lib/app/old", requestedMask: "d" }),
      aa({ operation: "signal", name: "/usr/bin/x", requestedMask: "send" }),
      aa({ operation: "open", name: "/etc/x", requestedMask: "r", profile: "other" }),
      aa({ operation: "open", name: "/etc/y", requestedMask: "r", profile: "app//child" }),
      aa({ operation: "open", name: "/etc/z", requestedMask: "r", apparmor: "DENIED" }),
    ]);
    const f = factsFromApparmorEvents([]).facts;
    expect(f.readPaths).toEqual([]);
    expect(r.facts).toEqual({
      executables: ["/usr/bin/curl"],
      libraries: ["/opt/app/lib/libx.so"],
      readPaths: ["/etc/x", "/etc/y", "/opt/app/lib/libx.so", "/var/lib/app/db"],
      writePaths: ["/var/lib/app/db", "/var/lib/app/old", "/var/lib/app/tmp/", "/var/log/app.log"],
      capabilities: ["net_bind_service"],
      network: ["raw", "tcp", "udp", "unix"],
    });
    const only = factsFromApparmorEvents([aa({ name: "/etc/x", requestedMask: "r", profile: "other" })], {
      profile: "app",
    });
    expect(only.facts.readPaths).toEqual([]);
  });
});

describe("facts → abstract (SPO's classification, spo.md §3.6)", () => {
  it("classifies like SPO: executables, libraries, read-only, write-only, read-write, network, capabilities", () => {
    const { abstract, skipped } = appArmorAbstract({
      executables: ["/usr/sbin/nginx"],
      libraries: ["/usr/lib/nginx/modules/ngx_stream.so", "/lib/x86_64-linux-gnu/libc.so.6", "/secprof"],
      readPaths: [
        "/etc/nginx/nginx.conf",
        "/etc/ld.so.cache",
        "/var/cache/nginx/a",
        "/var/cache/nginx/b",
        "/dev/null",
      ],
      writePaths: [
        "/var/log/nginx/error.log",
        "/var/cache/nginx/a",
        "/var/cache/nginx/b",
        "/dev/log",
        "/dev/null",
      ],
      capabilities: ["net_bind_service", "CAP_SETUID", "CAPABILITY_77"],
      network: ["tcp", "udp", "unix"],
    });
    expect(abstract).toEqual({
      executable: {
        allowedExecutables: ["/usr/sbin/nginx"],
        allowedLibraries: ["/secprof", "/usr/lib/nginx/modules/ngx_stream.so"],
      },
      filesystem: {
        readOnlyPaths: ["/etc/nginx/nginx.conf"],
        writeOnlyPaths: ["/var/log/nginx/error.log"],
        readWritePaths: ["/var/cache/nginx/*"],
      },
      network: { allowedProtocols: { allowTcp: true, allowUdp: true } },
      capability: { allowedCapabilities: ["net_bind_service", "setuid"] },
    });
    expect(skipped).toEqual(['capability "CAPABILITY_77" is not a Linux capability']);
    expect(
      appArmorAbstract({ ...emptyFacts, libraries: ["/secprof"] }, { programName: "/secprof" }).abstract,
    ).toEqual({});
  });

  it("sets allowUdp from UDP, not TCP (SPO's in-cluster bug, spo.md §10.8); allowRaw only when seen", () => {
    expect(appArmorAbstract({ ...emptyFacts, network: ["tcp"] }).abstract.network).toEqual({
      allowedProtocols: { allowTcp: true },
    });
    expect(appArmorAbstract({ ...emptyFacts, network: ["raw"] }).abstract.network).toEqual({
      allowRaw: true,
    });
  });

  it("leaves out facts a foreign source could not have recorded, saying why", () => {
    const { abstract, skipped } = appArmorAbstract({
      ...emptyFacts,
      readPaths: ["/ok", '/x", /** rwx', "rel"],
    });
    expect(abstract.filesystem?.readOnlyPaths).toEqual(["/ok"]);
    expect(skipped).toHaveLength(2);
  });

  it("can keep read-write paths exact", () => {
    const facts = { ...emptyFacts, readPaths: ["/srv/a", "/srv/b"], writePaths: ["/srv/a", "/srv/b"] };
    expect(appArmorAbstract(facts, { collapseReadWrite: false }).abstract.filesystem?.readWritePaths).toEqual(
      ["/srv/a", "/srv/b"],
    );
  });
});

const emptyFacts = { executables: [], readPaths: [], writePaths: [], capabilities: [], network: [] };

describe("merge: SPO's glob-aware union (spo.md §1.8)", () => {
  it("drops a literal a same-kind glob covers, and literals a new glob covers", () => {
    expect(
      mergeAppArmorAbstracts([
        { executable: { allowedExecutables: ["/usr/bin/a", "/opt/x/run"] } },
        { executable: { allowedExecutables: ["/usr/bin/*"], allowedLibraries: ["/usr/bin/a"] } },
      ]),
    ).toEqual({
      executable: { allowedExecutables: ["/opt/x/run", "/usr/bin/*"], allowedLibraries: ["/usr/bin/a"] },
    });
  });

  it("read-only on one side and write-only on the other is read-write", () => {
    expect(
      mergeAppArmorAbstracts([
        { filesystem: { readOnlyPaths: ["/data/x", "/etc/a"] } },
        { filesystem: { writeOnlyPaths: ["/data/x"] } },
      ]),
    ).toEqual({ filesystem: { readOnlyPaths: ["/etc/a"], readWritePaths: ["/data/x"] } });
  });

  it("a read-write glob absorbs the read-only and write-only literals it covers", () => {
    expect(
      mergeAppArmorAbstracts([
        { filesystem: { readOnlyPaths: ["/tmp/a", "/etc/x"], writeOnlyPaths: ["/tmp/b"] } },
        { filesystem: { readWritePaths: ["/tmp/*"] } },
      ]),
    ).toEqual({ filesystem: { readOnlyPaths: ["/etc/x"], readWritePaths: ["/tmp/*"] } });
  });

  it("a literal keeps the letters no covering glob gives: read-only glob + write-only literal", () => {
    expect(
      mergeAppArmorAbstracts([
        { filesystem: { readOnlyPaths: ["/data/*"] } },
        { filesystem: { writeOnlyPaths: ["/data/log"] } },
      ]),
    ).toEqual({ filesystem: { readOnlyPaths: ["/data/*"], readWritePaths: ["/data/log"] } });
  });

  it("ORs network flags (unspecified defers), unions capabilities, Complain and Disabled win", () => {
    const merged = mergeAppArmorSpecs([
      {
        mode: "Enforce",
        abstract: { network: { allowRaw: false }, capability: { allowedCapabilities: ["chown"] } },
      },
      {
        mode: "Complain",
        state: "Disabled",
        abstract: {
          network: { allowedProtocols: { allowUdp: true } },
          capability: { allowedCapabilities: ["SETUID", "chown"] },
        },
      },
    ]);
    expect(merged).toEqual({
      mode: "Complain",
      state: "Disabled",
      abstract: {
        network: { allowRaw: false, allowedProtocols: { allowUdp: true } },
        capability: { allowedCapabilities: ["chown", "setuid"] },
      },
    });
  });
});

// ─── properties ─────────────────────────────────────────────────────────────────────────────

const segment = fc.constantFrom("a", "b", "lib", "*", "**", "?", "x*", "@{pid}", "c.so");
const path = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => `/${s.join("/")}`);
const paths = fc.option(fc.uniqueArray(path, { maxLength: 4 }), { nil: undefined });
const flag = fc.option(fc.boolean(), { nil: undefined });
const abstractArb: fc.Arbitrary<AppArmorAbstract> = fc
  .record({
    exe: paths,
    lib: paths,
    ro: paths,
    wo: paths,
    rw: paths,
    raw: flag,
    tcp: flag,
    udp: flag,
    protocols: fc.boolean(),
    caps: fc.option(fc.subarray(["chown", "setuid", "net_raw", "sys_admin"]), { nil: undefined }),
  })
  .map((r) => {
    const a: AppArmorAbstract = {};
    if (r.exe !== undefined || r.lib !== undefined) {
      a.executable = {};
      if (r.exe !== undefined) a.executable.allowedExecutables = r.exe;
      if (r.lib !== undefined) a.executable.allowedLibraries = r.lib;
    }
    if (r.ro !== undefined || r.wo !== undefined || r.rw !== undefined) {
      a.filesystem = {};
      if (r.ro !== undefined) a.filesystem.readOnlyPaths = r.ro;
      if (r.wo !== undefined) a.filesystem.writeOnlyPaths = r.wo;
      if (r.rw !== undefined) a.filesystem.readWritePaths = r.rw;
    }
    if (r.raw !== undefined || r.protocols) {
      a.network = {};
      if (r.raw !== undefined) a.network.allowRaw = r.raw;
      if (r.protocols) {
        a.network.allowedProtocols = {};
        if (r.tcp !== undefined) a.network.allowedProtocols.allowTcp = r.tcp;
        if (r.udp !== undefined) a.network.allowedProtocols.allowUdp = r.udp;
      }
    }
    if (r.caps !== undefined) a.capability = { allowedCapabilities: r.caps };
    return a;
  });
const modeArb = fc.constantFrom<"Enforce" | "Complain">("Enforce", "Enforce", "Complain");
const specArb = fc.record({ mode: modeArb, abstract: abstractArb });

const cr = (spec: AppArmorProfile["spec"], name = "p"): AppArmorProfile => ({
  apiVersion: "security-profiles-operator.x-k8s.io/v1",
  kind: "AppArmorProfile",
  metadata: { name },
  spec,
});

/** Concrete paths that exercise every pattern of the abstracts. */
function samplePaths(...abstracts: AppArmorAbstract[]): string[] {
  const out = new Set<string>(["/a", "/a/b", "/lib/c.so", "/b/42/a"]);
  for (const a of abstracts)
    for (const p of [
      ...(a.executable?.allowedExecutables ?? []),
      ...(a.executable?.allowedLibraries ?? []),
      ...(a.filesystem?.readOnlyPaths ?? []),
      ...(a.filesystem?.writeOnlyPaths ?? []),
      ...(a.filesystem?.readWritePaths ?? []),
    ]) {
      for (const [dstar, star, q] of [
        ["z/y", "z", "y"],
        ["q", "xq", "x"],
        ["a/b", "lib", "b"],
      ])
        out.add(
          p
            .replace(/\*\*/g, dstar ?? "")
            .replace(/\*/g, star ?? "")
            .replace(/\?/g, q ?? "")
            .replace(/@\{pid\}/g, "42"),
        );
    }
  return [...out];
}

const RULE = /^ {2}(deny )?(?:"([^"]+)"|(\/\S*)) ([a-z]+),$/;

/**
 * What the rendered text allows, evaluated from the text itself: for a path, the letters of
 * every matching allow rule minus those of every matching deny rule (AppArmor: deny wins);
 * network kinds and capabilities likewise. Complain mode allows everything.
 */
function evaluate(text: string, probe: readonly string[]): Map<string, Set<string>> {
  const lines = text.split("\n");
  const complain = lines.some((l) => l.includes("flags=(complain"));
  const out = new Map<string, Set<string>>();
  const rules: { deny: boolean; path: string; letters: string }[] = [];
  const net = new Set<string>();
  const denyNet = new Set<string>();
  const caps = new Set<string>();
  for (const l of lines) {
    if (l.startsWith("  deny @{PROC}") || l.startsWith("  deny /sys/firmware")) continue; // same on both sides
    const m = RULE.exec(l);
    if (m !== null) rules.push({ deny: m[1] !== undefined, path: m[2] ?? m[3] ?? "", letters: m[4] ?? "" });
    const n = /^ {2}(deny )?network (\w+),$/.exec(l);
    if (n !== null) (n[1] === undefined ? net : denyNet).add(n[2] ?? "");
    const c = /^ {2}capability (\w+),$/.exec(l);
    if (c !== null) caps.add(c[1] ?? "");
  }
  for (const s of probe) {
    const allow = new Set<string>();
    const deny = new Set<string>();
    for (const r of rules)
      if (patternMatches(r.path, s))
        for (const ch of r.letters.replace("i", "")) (r.deny ? deny : allow).add(ch);
    out.set(s, complain ? new Set(["*"]) : new Set([...allow].filter((x) => !deny.has(x))));
  }
  out.set("#network", complain ? new Set(["*"]) : new Set([...net].filter((x) => !denyNet.has(x))));
  out.set("#caps", complain ? new Set(["*"]) : caps);
  return out;
}

function includes(big: Map<string, Set<string>>, small: Map<string, Set<string>>): boolean {
  for (const [k, letters] of small) {
    const b = big.get(k) ?? new Set();
    if (b.has("*")) continue;
    for (const l of letters) if (l !== "*" && !b.has(l)) return false;
    if (letters.has("*") && !b.has("*")) return false;
  }
  return true;
}

describe("merge properties (fast-check)", () => {
  const merge = (...s: AppArmorProfile["spec"][]) => mergeAppArmorSpecs(s);

  it("is commutative", () => {
    fc.assert(
      fc.property(specArb, specArb, (a, b) => {
        expect(merge(a, b)).toEqual(merge(b, a));
      }),
      { numRuns: 300 },
    );
  });

  it("is associative", () => {
    fc.assert(
      fc.property(specArb, specArb, specArb, (a, b, c) => {
        expect(merge(merge(a, b), c)).toEqual(merge(a, merge(b, c)));
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it("is idempotent (on the normal form every merge produces)", () => {
    fc.assert(
      fc.property(specArb, specArb, (a, b) => {
        const m = merge(a, b);
        expect(merge(m, m)).toEqual(m);
        expect(merge(a, a)).toEqual(merge(a));
        expect(normalizeAppArmorAbstract(m.abstract)).toEqual(m.abstract);
      }),
      { numRuns: 300 },
    );
  });

  it("never loses an allowed operation (evaluated on the rendered AppArmor text)", () => {
    fc.assert(
      fc.property(specArb, specArb, (a, b) => {
        const m = merge(a, b);
        const probe = samplePaths(a.abstract, b.abstract, m.abstract);
        const ea = evaluate(renderAppArmorProfile(cr(a)), probe);
        const eb = evaluate(renderAppArmorProfile(cr(b)), probe);
        const em = evaluate(renderAppArmorProfile(cr(m)), probe);
        expect(includes(em, ea)).toBe(true);
        expect(includes(em, eb)).toBe(true);
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it("every listed access is really allowed by the text (no deny takes back what another rule lists)", () => {
    fc.assert(
      fc.property(specArb, (s) => {
        if (s.mode === "Complain") return;
        const e = evaluate(renderAppArmorProfile(cr(s)), samplePaths(s.abstract));
        const fs = s.abstract.filesystem;
        for (const [list, letters] of [
          [fs?.readOnlyPaths, "r"],
          [fs?.writeOnlyPaths, "wlk"],
          [fs?.readWritePaths, "rwlk"],
          [s.abstract.executable?.allowedExecutables, "xr"],
          [s.abstract.executable?.allowedLibraries, "mr"],
        ] as const)
          for (const p of list ?? [])
            for (const probe of samplePaths({ filesystem: { readOnlyPaths: [p] } }))
              if (patternMatches(p, probe)) for (const l of letters) expect(e.get(probe)?.has(l)).toBe(true);
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});

describe("rendering (crd2armor, spo.md §4.3)", () => {
  const nginx = cr(
    {
      mode: "Enforce",
      abstract: {
        executable: { allowedExecutables: ["/usr/sbin/nginx"] },
        filesystem: { readOnlyPaths: ["/etc/nginx/nginx.conf"], readWritePaths: ["/var/cache/nginx/*"] },
        network: { allowedProtocols: { allowTcp: true } },
        capability: { allowedCapabilities: ["net_bind_service", "setuid"] },
      },
    },
    "web-rec-nginx",
  );

  it("renders SPO's example", () => {
    expect(renderAppArmorProfile(nginx)).toBe(
      [
        "# Generated by secprof from AppArmorProfile web-rec-nginx, SPO-compatible; do not edit by hand.",
        "#include <tunables/global>",
        "profile web-rec-nginx flags=(enforce,attach_disconnected,mediate_deleted) {",
        "  #include <abstractions/base>",
        "  /usr/sbin/nginx ixr,",
        "  /etc/nginx/nginx.conf r,",
        "  deny /etc/nginx/nginx.conf wlk,",
        "  /var/cache/nginx/* rwlk,",
        "  network tcp,",
        "  capability net_bind_service,",
        "  capability setuid,",
        "  deny @{PROC}/* w,   # deny write for all files directly in /proc (not in a subdir)",
        "  deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9]*}/** w,",
        "  deny @{PROC}/sys/[^k]** w,  # deny /proc/sys except /proc/sys/k* (effectively /proc/sys/kernel)",
        "  deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,  # deny everything except shm* in /proc/sys/kernel/",
        "  deny @{PROC}/sysrq-trigger rwklx,",
        "  deny @{PROC}/mem rwklx,",
        "  deny @{PROC}/kmem rwklx,",
        "  deny @{PROC}/kcore rwklx,",
        "  deny /sys/firmware/efi/efivars/** rwklx,",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("in Complain mode: no deny rules at all", () => {
    const text = renderAppArmorProfile(
      cr({ mode: "Complain", abstract: { ...nginx.spec.abstract, network: { allowRaw: false } } }),
    );
    expect(text).toContain("flags=(complain,attach_disconnected,mediate_deleted)");
    expect(text).not.toContain("deny");
  });

  it("writes `deny network raw,` for an explicit allowRaw false, and quotes paths with spaces", () => {
    const text = renderAppArmorProfile(
      cr({
        mode: "Enforce",
        abstract: { network: { allowRaw: false }, filesystem: { writeOnlyPaths: ["/My Docs/x"] } },
      }),
    );
    expect(text).toContain('  "/My Docs/x" wlk,\n  deny "/My Docs/x" r,\n');
    expect(text).toContain("  deny network raw,\n");
  });

  it("omits a deny that would take back access another rule lists (SPO would break the write)", () => {
    const text = renderAppArmorProfile(
      cr({
        mode: "Enforce",
        abstract: { filesystem: { readOnlyPaths: ["/data/*", "/etc/x"], writeOnlyPaths: ["/data/log"] } },
      }),
    );
    expect(text).not.toContain("deny /data/* wlk");
    expect(text).not.toContain("deny /data/log r");
    expect(text).toContain("deny /etc/x wlk");
  });

  it("adds no mount rules for sys_rawio (SPO's AllowMount hack)", () => {
    const text = renderAppArmorProfile(
      cr({ mode: "Enforce", abstract: { capability: { allowedCapabilities: ["sys_rawio"] } } }),
    );
    expect(text).toContain("capability sys_rawio,");
    expect(text).not.toMatch(/mount|fsck/);
  });

  it("is deterministic: lists are sorted and de-duplicated", () => {
    const a = renderAppArmorProfile(
      cr({ mode: "Enforce", abstract: { filesystem: { readOnlyPaths: ["/b", "/a", "/b"] } } }),
    );
    const b = renderAppArmorProfile(
      cr({ mode: "Enforce", abstract: { filesystem: { readOnlyPaths: ["/a", "/b"] } } }),
    );
    expect(a).toBe(b);
  });
});

describe("rendering is safe: validation first, hostile input never becomes text", () => {
  it.each([
    ["name with a newline", { name: "p\n  capability sys_admin," }],
    ["name with a space", { name: "my profile" }],
    ["path with a newline", { ro: "/tmp/x\n  /** rwx," }],
    ["path with a comma", { ro: "/usr/bin/nginx, /etc/passwd" }],
    ["path with a quote", { lib: '/var/log/"app".log' }],
    ["relative path", { exe: "usr/bin/app" }],
    ["traversal", { exe: "/usr/bin/../etc/shadow" }],
    ["traversal in a read-write path", { rw: "/var/../etc/shadow" }],
    ["alternation", { rw: "/{etc,root}/**" }],
    ["unknown variable", { ro: "/@{HOME}/.ssh/id_rsa" }],
    ["CAP_ prefix", { cap: "CAP_CHOWN" }],
    ["unknown capability", { cap: "sys_admin2" }],
    ["capability injection", { cap: "chown, net_admin" }],
    ["keyword as capability", { cap: "audit" }],
  ])(
    "%s is rejected",
    (_what, bad: { name?: string; ro?: string; rw?: string; exe?: string; lib?: string; cap?: string }) => {
      const p = {
        apiVersion: "security-profiles-operator.x-k8s.io/v1",
        kind: "AppArmorProfile",
        metadata: { name: bad.name ?? "ok" },
        spec: {
          mode: "Enforce",
          abstract: {
            executable: {
              allowedExecutables: bad.exe ? [bad.exe] : [],
              allowedLibraries: bad.lib ? [bad.lib] : [],
            },
            filesystem: { readOnlyPaths: bad.ro ? [bad.ro] : [], readWritePaths: bad.rw ? [bad.rw] : [] },
            capability: { allowedCapabilities: bad.cap ? [bad.cap] : [] },
          },
        },
      } as AppArmorProfile;
      expect(appArmorProfileProblems(p).length).toBeGreaterThan(0);
      expect(() => renderAppArmorProfile(p)).toThrow(AppArmorRenderError);
    },
  );

  const hostile = fc.oneof(
    fc.string({ unit: "binary", maxLength: 40 }),
    fc
      .array(
        fc.constantFrom(
          "/",
          "a",
          ",",
          "\n",
          '"',
          " ",
          "..",
          "{",
          "}",
          "@{pid}",
          "*",
          "#",
          "^",
          "\\",
          " rwx,",
          "\0",
        ),
        {
          maxLength: 12,
        },
      )
      .map((t) => t.join("")),
  );
  const LINE =
    /^(?:# Generated by secprof from AppArmorProfile [A-Za-z0-9_.-]+, SPO-compatible; do not edit by hand\.|#include <tunables\/global>|profile [A-Za-z0-9_.-]+ flags=\((?:enforce|complain),attach_disconnected,mediate_deleted\) \{| {2}#include <abstractions\/base>| {2}(?:deny )?(?:"\/[A-Za-z0-9_./*?+@{} -]*"|\/[A-Za-z0-9_./*?+@{}-]*) (?:ixr|mr|r|wlk|rwlk),| {2}(?:deny )?network (?:raw|tcp|udp),| {2}capability [a-z_]+,| {2}deny (?:@\{PROC\}|\/sys\/firmware)\S* [rwklx]+,.*|\}|)$/;

  it("fuzz: any string anywhere is either refused before rendering or renders only well-formed rule lines", () => {
    fc.assert(
      fc.property(
        fc.record({
          name: fc.oneof(fc.constant("fuzz"), hostile),
          lists: fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), hostile), { maxLength: 4 }),
          cap: fc.option(hostile, { nil: undefined }),
        }),
        ({ name, lists, cap }) => {
          const l: string[][] = [[], [], [], [], []];
          for (const [i, s] of lists) l[i]?.push(s);
          const p = cr(
            {
              mode: "Enforce",
              abstract: {
                executable: { allowedExecutables: l[0] ?? [], allowedLibraries: l[1] ?? [] },
                filesystem: {
                  readOnlyPaths: l[2] ?? [],
                  writeOnlyPaths: l[3] ?? [],
                  readWritePaths: l[4] ?? [],
                },
                capability: { allowedCapabilities: cap === undefined ? [] : [cap] },
              },
            },
            name,
          );
          let text: string;
          try {
            text = renderAppArmorProfile(p);
          } catch (err) {
            expect(err).toBeInstanceOf(AppArmorRenderError);
            expect(appArmorProfileProblems(p).length).toBeGreaterThan(0);
            return;
          }
          expect(appArmorProfileProblems(p)).toEqual([]);
          for (const line of text.split("\n")) expect(line).toMatch(LINE);
          const ruleLines = text
            .split("\n")
            .filter((x) => /^ {2}(?!deny @\{PROC|deny \/sys|#include)/.test(x));
          expect(ruleLines.length).toBeLessThanOrEqual(2 * lists.length + (cap === undefined ? 0 : 1));
        },
      ),
      { numRuns: 2000 },
    );
  }, 60_000);

  it("recorded hostile paths are made safe instead: they render and still match the file", () => {
    fc.assert(
      fc.property(fc.array(hostile, { maxLength: 5 }), (raws) => {
        const r = new AppArmorRecorder();
        for (const raw of raws) r.file(NS, `/x/${raw}`, { read: true });
        const { abstract } = appArmorAbstract(r.facts(NS));
        const text = renderAppArmorProfile(cr({ mode: "Enforce", abstract }));
        for (const line of text.split("\n")) expect(line).toMatch(LINE);
      }),
      { numRuns: 1000 },
    );
  }, 60_000);
});
