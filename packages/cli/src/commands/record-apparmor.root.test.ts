import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  AppArmorProfile,
  AuditParser,
  type AvcTupleT,
  avcTupleFromEvent,
  BASE_READ_WRITE_PATHS,
  EXCLUDED_PATH_PREFIXES,
  hasPrefix,
  KNOWN_LIBRARY_PREFIXES,
  KNOWN_READ_PREFIXES,
  KNOWN_WRITE_PREFIXES,
  type ParsedEvent,
  patternMatches,
} from "@secprof/core";
import { compileAppArmor, compileCil, prepareSelinuxStore } from "@secprof/installer";
import { missing } from "@secprof/testkit";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderKinds } from "./record.js";

// Runs the built CLI as a user would (scripts/test builds before testing).
const CLI = fileURLToPath(new URL("../../dist/main.js", import.meta.url));
const skip = missing("root", "bpftrace", "apparmor_parser");
const skipSelinux = missing("secilc", "semodule");
const FIXTURE = fileURLToPath(
  new URL("../../../testkit/fixtures/audit/public/selinux-auditd.log", import.meta.url),
);

/** A small HTTP server and client on loopback: the server reads a file and appends a log per request. */
const HTTP_PAIR = `
import http from "node:http";
import dgram from "node:dgram";
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
const [data, logDir] = process.argv.slice(2);
mkdirSync(logDir, { recursive: true });
const server = http.createServer((req, res) => {
  appendFileSync(logDir + "/access.log", req.url + "\\n");
  res.end(readFileSync(data));
});
server.listen(0, "127.0.0.1", async () => {
  const { port } = server.address();
  for (const p of ["/a", "/b"]) {
    const body = await new Promise((resolve, reject) =>
      http.get({ host: "127.0.0.1", port, path: p }, (r) => {
        let s = "";
        r.on("data", (d) => (s += d));
        r.on("end", () => resolve(s));
      }).on("error", reject));
    if (body !== "hello\\n") process.exit(3);
  }
  const u = dgram.createSocket("udp4");
  u.send("x", port, "127.0.0.1", () => { u.close(); server.close(); });
});
`;

function record(kinds: string, name: string, argv: string[], cwd: string, extra: string[] = []) {
  const out = mkdtempSync(path.join(tmpdir(), "secprof-aa-out-"));
  const args = [CLI, "record", "--kind", kinds, "--name", name, "--out", out, ...extra, "--", ...argv];
  const r = spawnSync("node", args, {
    cwd,
    encoding: "utf8",
    timeout: 180_000,
  });
  return { ...r, read: (f: string) => readFileSync(path.join(out, f), "utf8"), out };
}

interface StraceFacts {
  reads: Set<string>;
  writes: Set<string>;
  execs: Set<string>;
  sockets: Set<string>;
}

const STRACE_LINE = /^\d+\s+(openat|execve|mkdir|socket)\((.*)\)\s+=\s+(-?\d+)/;

/** What `strace -f` saw the same command do: successful opens by intent, execs, mkdirs, sockets. */
function straceFacts(argv: string[], cwd: string): StraceFacts {
  const dir = mkdtempSync(path.join(tmpdir(), "secprof-aa-strace-"));
  const out = path.join(dir, "trace");
  const f: StraceFacts = { reads: new Set(), writes: new Set(), execs: new Set(), sockets: new Set() };
  try {
    execFileSync("strace", ["-f", "-qq", "-e", "trace=openat,execve,mkdir,socket", "-o", out, ...argv], {
      cwd,
      stdio: ["ignore", "pipe", "inherit"],
    });
    for (const line of readFileSync(out, "utf8").split("\n")) {
      const m = STRACE_LINE.exec(line);
      if (m === null || Number(m[3]) < 0) continue;
      const [, call, args = ""] = m;
      const p = /"([^"]+)"/.exec(args)?.[1];
      if (call === "socket") f.sockets.add(args.split(",").slice(0, 2).join(",").trim());
      else if (p === undefined || !p.startsWith("/")) continue;
      else if (call === "execve") f.execs.add(p);
      else if (call === "mkdir") f.writes.add(`${p}/`);
      else if (/O_PATH/.test(args)) continue;
      else {
        if (/O_RDONLY|O_RDWR/.test(args)) f.reads.add(p);
        if (/O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/.test(args)) f.writes.add(p);
      }
    }
    return f;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Paths the abstract leaves out on purpose (abstractions/base grants them; SPO's lists). */
const implied = (p: string, write: boolean) =>
  hasPrefix(p, EXCLUDED_PATH_PREFIXES) ||
  hasPrefix(p, KNOWN_LIBRARY_PREFIXES) ||
  hasPrefix(p, write ? KNOWN_WRITE_PREFIXES : KNOWN_READ_PREFIXES) ||
  BASE_READ_WRITE_PATHS.includes(p);

function uncovered(paths: Iterable<string>, patterns: readonly string[], write: boolean): string[] {
  const missingOnes: string[] = [];
  for (const p of paths) {
    if (implied(p, write)) continue;
    // strace does not say which opens were directories: either spelling counts.
    if (!patterns.some((q) => patternMatches(q, p) || patternMatches(q, `${p}/`))) missingOnes.push(p);
  }
  return missingOnes;
}

describe.skipIf(skip)(
  `secprof record --kind apparmor with eBPF (${skip ?? "real bpftrace, apparmor_parser, strace"})`,
  () => {
    it("records an HTTP server and client: the profile compiles and covers every file, exec and socket strace saw", async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "secprof-aa-http-"));
      writeFileSync(path.join(dir, "data.txt"), "hello\n");
      writeFileSync(path.join(dir, "pair.mjs"), HTTP_PAIR);
      const argv = [
        process.execPath,
        path.join(dir, "pair.mjs"),
        path.join(dir, "data.txt"),
        path.join(dir, "log"),
      ];
      const r = record("seccomp,apparmor,selinux", "web", argv, dir);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/cannot record selinux: SELinux profiles are built from AVC records/);
      const text = r.read("web.apparmor");
      const compiled = await compileAppArmor(text, { expectProfile: "web" });
      expect(compiled.ok, compiled.ok ? "" : compiled.message).toBe(true);

      const cr = AppArmorProfile.parse(parse(r.read("web.apparmor.yaml")));
      const a = cr.spec.abstract;
      const exes = a.executable?.allowedExecutables ?? [];
      const reads = [...(a.filesystem?.readOnlyPaths ?? []), ...(a.filesystem?.readWritePaths ?? [])];
      const writes = [...(a.filesystem?.writeOnlyPaths ?? []), ...(a.filesystem?.readWritePaths ?? [])];
      // What the workload is about, checked by name.
      expect(exes).toContain(process.execPath);
      expect(reads.some((q) => patternMatches(q, path.join(dir, "data.txt")))).toBe(true);
      expect(writes.some((q) => patternMatches(q, path.join(dir, "log", "access.log")))).toBe(true);
      expect(writes.some((q) => patternMatches(q, `${path.join(dir, "log")}/`))).toBe(true);
      expect(a.network?.allowedProtocols).toEqual({ allowTcp: true, allowUdp: true });

      // strace of the same command is the oracle: everything it saw is allowed.
      const oracle = straceFacts(argv, dir);
      expect(oracle.reads.size).toBeGreaterThan(3);
      expect(uncovered(oracle.execs, exes, false)).toEqual([]);
      expect(uncovered(oracle.reads, reads, false)).toEqual([]);
      expect(uncovered(oracle.writes, writes, true)).toEqual([]);
      expect([...oracle.sockets].sort()).toEqual(
        expect.arrayContaining(["AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK"]),
      );
      rmSync(dir, { recursive: true, force: true });
      rmSync(r.out, { recursive: true, force: true });
    });

    it("records a shell pipeline twice into byte-identical AppArmor files that cover strace's execs and files", async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "secprof-aa-sh-"));
      writeFileSync(path.join(dir, "in.txt"), "b\na\nc\n");
      const script =
        "sort in.txt | tr a-z A-Z > out.txt && mkdir -p sub && cat ./out.txt > sub/copy.txt && ls /etc > /dev/null && chown nobody sub/copy.txt";
      const argv = ["/bin/sh", "-c", script];
      const one = record("apparmor", "pipe", argv, dir);
      rmSync(path.join(dir, "sub"), { recursive: true, force: true });
      const two = record("apparmor", "pipe", argv, dir);
      expect(one.status, one.stderr).toBe(0);
      expect(two.status, two.stderr).toBe(0);
      expect(one.read("pipe.apparmor")).toBe(two.read("pipe.apparmor"));
      expect(one.read("pipe.apparmor.yaml")).toBe(two.read("pipe.apparmor.yaml"));
      const compiled = await compileAppArmor(one.read("pipe.apparmor"), { expectProfile: "pipe" });
      expect(compiled.ok, compiled.ok ? "" : compiled.message).toBe(true);

      const a = AppArmorProfile.parse(parse(one.read("pipe.apparmor.yaml"))).spec.abstract;
      const exes = a.executable?.allowedExecutables ?? [];
      const reads = [...(a.filesystem?.readOnlyPaths ?? []), ...(a.filesystem?.readWritePaths ?? [])];
      const writes = [...(a.filesystem?.writeOnlyPaths ?? []), ...(a.filesystem?.readWritePaths ?? [])];
      // Relative paths (in.txt, ./out.txt, sub/) are resolved against the command's directory.
      expect(reads.some((q) => patternMatches(q, path.join(dir, "in.txt")))).toBe(true);
      expect(writes.some((q) => patternMatches(q, path.join(dir, "sub", "copy.txt")))).toBe(true);
      expect(writes.some((q) => patternMatches(q, `${path.join(dir, "sub")}/`))).toBe(true);
      // chown of a root-owned file to another user is a capability the kernel really checked.
      expect(a.capability?.allowedCapabilities).toEqual(["chown"]);
      rmSync(path.join(dir, "sub"), { recursive: true, force: true });
      const oracle = straceFacts(argv, dir);
      expect(uncovered(oracle.execs, exes, false)).toEqual([]);
      expect(uncovered(oracle.reads, reads, false)).toEqual([]);
      rmSync(dir, { recursive: true, force: true });
    });
  },
);

const skipRunc = skip ?? missing("runc", "auditd");

describe.skipIf(skipRunc)(`secprof record --for runc --kind apparmor (${skipRunc ?? "real runc"})`, () => {
  it("records only what the container does from its entrypoint's exec on (what AppArmor confines)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "secprof-aa-runc-"));
    const r = record("apparmor", "ctr", ["sh", "-c", "cat /etc/hostname > /dev/null; ls /"], dir, [
      "--for",
      "runc",
    ]);
    expect(r.status, r.stderr).toBe(0);
    const text = r.read("ctr.apparmor");
    const compiled = await compileAppArmor(text, { expectProfile: "ctr" });
    expect(compiled.ok, compiled.ok ? "" : compiled.message).toBe(true);
    const a = AppArmorProfile.parse(parse(r.read("ctr.apparmor.yaml"))).spec.abstract;
    expect(a.executable?.allowedExecutables).toEqual(["/usr/bin/cat", "/usr/bin/ls", "/usr/bin/sh"]);
    expect(a.filesystem?.readOnlyPaths).toContain("/etc/hostname");
    // runc init's set-up in the namespace (the bundle's rootfs seen from the host, uid maps, its
    // own memfd) happens before the profile applies and must not be in it.
    expect(text).not.toMatch(/secprof-runc-|uid_map|setgroups|\/proc\/self\/fd\//);
    rmSync(dir, { recursive: true, force: true });
    rmSync(r.out, { recursive: true, force: true });
  });
});

describe.skipIf(skipSelinux)(
  `SELinux CIL from fixture AVCs (${skipSelinux ?? "real semodule store"})`,
  () => {
    it("renders the fixture's httpd_t AVCs as NAME.cil that compiles in a private policy store", async () => {
      const parser = new AuditParser({ format: "auditd" });
      const events: ParsedEvent[] = [];
      readFileSync(FIXTURE, "utf8")
        .split("\n")
        .forEach((l, i) => {
          parser.push(l, i + 1, events);
        });
      parser.flush(events);
      const avcs: AvcTupleT[] = [];
      for (const { event } of events) {
        if (event.kind !== "avc") continue;
        const t = avcTupleFromEvent(event);
        if (t !== undefined) avcs.push(t);
      }
      expect(avcs.length).toBeGreaterThan(0);
      // The fixture's net_admin AVC is on SPO's deny list: the kind is refused with a clear reason.
      const all = renderKinds("httpdrec", ["selinux"], {
        selinux: { avcs, options: { processType: "httpd_t" } },
      });
      expect(all.files.size).toBe(0);
      expect(all.problems).toEqual([expect.stringMatching(/class capability is on the deny list/)]);
      const allowed = avcs.filter((a) => a.tclass !== "capability");
      const r = renderKinds("httpdrec", ["selinux"], {
        selinux: { avcs: allowed, options: { processType: "httpd_t" } },
      });
      expect(r.problems).toEqual([]);
      // sshd_t's AVC is another domain's: not evidence for this profile.
      expect(r.notes).toEqual(["selinux: ignored 1 AVC(s) of other source types"]);
      const cil = r.files.get("httpdrec.cil") ?? "";
      expect(cil).toBe(
        [
          "(block httpdrec",
          "(blockinherit container)",
          "(allow process postgresql_port_t ( tcp_socket ( name_connect )))",
          "(allow process user_home_t ( file ( open read write )))",
          ")",
          "",
        ].join("\n"),
      );
      const store = await prepareSelinuxStore({
        cacheDir: path.join(tmpdir(), "secprof-selinux-store-cache"),
      });
      try {
        const c = await compileCil(store, [{ name: "httpdrec", cil }]);
        expect(c.ok, c.ok ? "" : c.message).toBe(true);
      } finally {
        await store.dispose();
      }
    }, 600_000);
  },
);
