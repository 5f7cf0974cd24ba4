import { fixtureLines, missing } from "@secprof/testkit";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
// Until core's index exports the profile modules, tests reach them by path.
import { AuditParser, type ParsedEvent } from "../../../core/src/audit/parser.js";
import {
  AppArmorRecorder,
  appArmorAbstract,
  appArmorProfileCR,
  factsFromApparmorEvents,
  mergeAppArmorSpecs,
  renderAppArmorProfile,
} from "../../../core/src/profiles/apparmor.js";
import type { AppArmorAbstract, AppArmorProfile } from "../../../core/src/schemas/profiles.js";
import { compileAppArmor } from "./apparmor-parser.js";

/**
 * Every AppArmor text these tests render goes through the real apparmor_parser (offline: no
 * kernel load, no cache; this machine's kernel has no AppArmor at all).
 */

const skip = missing("apparmor_parser");

let compiles = 0;
async function mustCompile(p: AppArmorProfile): Promise<void> {
  const text = renderAppArmorProfile(p);
  compiles++;
  const r = await compileAppArmor(text, { expectProfile: p.metadata.name });
  if (!r.ok) throw new Error(`${p.metadata.name} did not compile: ${r.message}\n${text}`);
  expect(r.warnings).toEqual([]);
}

function nginxPartial(replica: string, extra: string[]): AppArmorProfile {
  const r = new AppArmorRecorder();
  const ns = 4026532100;
  r.file(ns, "/usr/sbin/nginx", { spawn: true, read: true });
  r.file(ns, "/docker-entrypoint.sh", { spawn: true, read: true });
  r.file(ns, "/bin/sh", { spawn: true });
  r.file(ns, "/etc/nginx/nginx.conf", { read: true });
  r.file(ns, "/etc/nginx/conf.d/default.conf", { read: true });
  r.file(ns, "/etc/passwd", { read: true });
  r.file(ns, "/etc/group", { read: true });
  r.file(ns, "/var/cache/nginx/client_temp", { read: true, write: true });
  r.file(ns, "/var/cache/nginx/proxy_temp", { read: true, write: true });
  r.file(ns, "/var/log/nginx/access.log", { write: true });
  r.file(ns, "/var/log/nginx/error.log", { write: true });
  r.file(ns, "/run/nginx.pid", { read: true, write: true });
  r.file(ns, "/proc/4711/status", { read: true });
  r.file(ns, "/sys/devices/system/cpu/online", { read: true });
  r.file(ns, "/usr/lib/nginx/modules/ngx_http_geoip_module.so", { exec: true, read: true });
  r.file(ns, "/lib/x86_64-linux-gnu/libpcre2-8.so.0", { exec: true, read: true });
  for (const p of extra) r.file(ns, p, { read: true });
  r.network(ns, "inet", "tcp");
  r.network(ns, "inet6", "tcp");
  r.network(ns, "unix", "other");
  for (const c of ["chown", "setgid", "setuid", "net_bind_service", "dac_override"]) r.capability(ns, c);
  const { abstract, skipped } = appArmorAbstract(r.facts(ns));
  expect(skipped).toEqual([]);
  return appArmorProfileCR({ name: `web-rec-nginx-${replica}` }, abstract);
}

describe.skipIf(skip)("apparmor_parser compiles every rendered profile (offline)", () => {
  it("nginx-like recording, and the merge of two replicas", async () => {
    const a = nginxPartial("abcde", ["/usr/share/nginx/html/index.html"]);
    const b = nginxPartial("fghij", ["/usr/share/nginx/html/50x.html", "/etc/ssl/certs/ca-certificates.crt"]);
    await mustCompile(a);
    await mustCompile(b);
    const merged = { ...a, metadata: { name: "web-rec-nginx" }, spec: mergeAppArmorSpecs([a.spec, b.spec]) };
    expect(merged.spec.abstract.filesystem?.readOnlyPaths).toContain("/usr/share/nginx/html/50x.html");
    await mustCompile(merged);
  });

  it("postgres-like profile: data directory globs, unix and tcp sockets, quoted paths, raw denied", async () => {
    await mustCompile(
      appArmorProfileCR(
        { name: "db-rec-postgres" },
        {
          executable: {
            allowedExecutables: [
              "/usr/lib/postgresql/15/bin/postgres",
              "/usr/lib/postgresql/15/bin/pg_ctl",
              "/bin/bash",
            ],
            allowedLibraries: ["/usr/lib/postgresql/15/lib/*.so"],
          },
          filesystem: {
            readOnlyPaths: [
              "/etc/postgresql/15/main/*.conf",
              "/usr/share/postgresql/15/**",
              "/proc/@{pid}/stat",
            ],
            writeOnlyPaths: ["/var/log/postgresql/postgresql-15-main.log"],
            readWritePaths: [
              "/var/lib/postgresql/15/main/**",
              "/run/postgresql/*",
              "/dev/shm/PostgreSQL.*",
              "/srv/My Data/*",
            ],
          },
          network: { allowRaw: false, allowedProtocols: { allowTcp: true, allowUdp: true } },
          capability: { allowedCapabilities: ["setuid", "setgid", "DAC_READ_SEARCH", "fowner"] },
        },
      ),
    );
  });

  it("complain mode, and the conflict case where SPO's denies would contradict the allows", async () => {
    await mustCompile(
      appArmorProfileCR(
        { name: "debug" },
        {
          filesystem: { readOnlyPaths: ["/data/*"], writeOnlyPaths: ["/data/log"] },
          network: { allowRaw: true },
        },
        "Complain",
      ),
    );
    await mustCompile(
      appArmorProfileCR(
        { name: "conflict" },
        { filesystem: { readOnlyPaths: ["/data/*", "/etc/x"], writeOnlyPaths: ["/data/log"] } },
      ),
    );
  });

  it("a profile built from complain-mode audit records (public fixture + an application's records)", async () => {
    const p = new AuditParser();
    const out: ParsedEvent[] = [];
    for (const [i, l] of fixtureLines("public/apparmor-auditd.log").entries()) p.push(l, i + 1, out);
    p.flush(out);
    const events = out.flatMap((e) => (e.event.kind === "apparmor" ? [e.event] : []));
    const { facts } = factsFromApparmorEvents(events, { profile: "/usr/sbin/secprof-demo" });
    const { abstract } = appArmorAbstract(facts);
    await mustCompile(appArmorProfileCR({ name: "secprof-demo" }, abstract));
  });

  it("an empty profile, and every capability AppArmor knows", async () => {
    await mustCompile(appArmorProfileCR({ name: "empty" }, {}));
    const { LINUX_CAPABILITIES } = await import("../../../core/src/profiles/apparmor.js");
    await mustCompile(
      appArmorProfileCR(
        { name: "all-caps" },
        { capability: { allowedCapabilities: [...LINUX_CAPABILITIES] } },
      ),
    );
  });

  it("recorded hostile file names are made safe and still compile", async () => {
    const hostile = fc.oneof(
      fc.string({ unit: "binary", maxLength: 30 }),
      fc
        .array(
          fc.constantFrom(
            "a",
            ",",
            "\n",
            '"',
            " ",
            "{",
            "}",
            "@",
            "*",
            "#",
            "^",
            "\\",
            " rwx,",
            "(",
            "\u00e9",
            "\0",
            "[",
          ),
          {
            maxLength: 10,
          },
        )
        .map((t) => t.join("")),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 6 }), async (names) => {
        const r = new AppArmorRecorder();
        for (const [i, n] of names.entries())
          r.file(1, `/srv/${n}`, { read: i % 2 === 0, write: i % 3 === 0 });
        await mustCompile(
          appArmorProfileCR({ name: "hostile-files" }, appArmorAbstract(r.facts(1)).abstract),
        );
      }),
      { numRuns: 40 },
    );
  });

  const segment = fc.constantFrom("a", "b", "lib", "*", "**", "?", "x*", "@{pid}", "c.so", "d e");
  const path = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => `/${s.join("/")}`);
  const list = fc.uniqueArray(path, { maxLength: 4 });
  const abstractArb = fc
    .record({
      exe: list,
      lib: list,
      ro: list,
      wo: list,
      rw: list,
      raw: fc.option(fc.boolean(), { nil: undefined }),
    })
    .map(
      (r): AppArmorAbstract => ({
        executable: { allowedExecutables: r.exe, allowedLibraries: r.lib },
        filesystem: { readOnlyPaths: r.ro, writeOnlyPaths: r.wo, readWritePaths: r.rw },
        ...(r.raw === undefined ? {} : { network: { allowRaw: r.raw } }),
      }),
    );

  it("property: random abstracts and their merges compile", async () => {
    await fc.assert(
      fc.asyncProperty(abstractArb, abstractArb, async (a, b) => {
        const pa = appArmorProfileCR({ name: "rand-a" }, a);
        const pb = appArmorProfileCR({ name: "rand-b" }, b);
        await mustCompile(pa);
        await mustCompile({
          ...pa,
          metadata: { name: "rand-merged" },
          spec: mergeAppArmorSpecs([pa.spec, pb.spec]),
        });
      }),
      { numRuns: 40 },
    );
  });

  it("reports a broken text with the parser's reason and the offending line", async () => {
    const r = await compileAppArmor("profile x {\n  /tmp/a rwz,\n}\n");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/apparmor_parser exited with status 1: .*line 2.*"\/tmp\/a rwz,"/);
    const caps = await compileAppArmor("profile x {\n  capability sys_admin2,\n}\n");
    expect(caps.ok === false && caps.message).toContain("Invalid capability sys_admin2");
  });

  it("refuses a text that does not define exactly the profile it is named after", async () => {
    const text = "profile other {\n}\n";
    const r = await compileAppArmor(text, { expectProfile: "mine" });
    expect(r.ok === false && r.message).toContain('defines "other", expected exactly "mine"');
    const two = await compileAppArmor("profile a {\n}\nprofile b {\n}\n", { expectProfile: "a" });
    expect(two.ok).toBe(false);
  });

  it("hostile profiles are refused before the compiler is ever started", async () => {
    const before = compiles;
    const hostile: AppArmorProfile[] = [
      appArmorProfileCR({ name: "x" }, { filesystem: { readOnlyPaths: ["/tmp/x,\n  /** rwx"] } }),
      appArmorProfileCR({ name: "x" }, { executable: { allowedExecutables: ["/usr/bin/../../etc/shadow"] } }),
      appArmorProfileCR({ name: "x" }, { capability: { allowedCapabilities: ["sys_admin,\n  /** rwx"] } }),
      appArmorProfileCR({ name: "x" }, { filesystem: { readWritePaths: ['/x" /** rwx, "/y'] } }),
      { ...appArmorProfileCR({ name: "x" }, {}), metadata: { name: "x {\n  /** rwx,\n}\nprofile y" } },
    ];
    for (const p of hostile) await expect(mustCompile(p)).rejects.toThrow(/cannot be rendered|schema/);
    expect(compiles).toBe(before);
  });
});
