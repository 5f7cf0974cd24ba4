import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AppArmorFactTable, type BaseResolver } from "./apparmor-facts.js";
import {
  decodePathKey,
  decodeSocketKey,
  decodeSysAdminKey,
  parseAppArmorLine,
  socketFamilyProtocol,
} from "./apparmor-parse.js";
import { APPARMOR_STRLEN } from "./apparmor-source.js";

/**
 * fixtures/bpftrace-0.17-apparmor.jsonl: apparmor.bt (this commit) under bpftrace 0.17.0 on the
 * project VM (kernel 6.18), `-B line -f json apparmor.bt 3000 <host mntns> 10000`, SIGINT after
 * 16 s, while `unshare -m sh wl.sh` ran in /tmp/aa-fx/w (dev 254:0, ino 2285937):
 *   echo hi > f1 && mkdir d && mv f1 d/f2 && cat ./d/f2 && rm d/f2 && rmdir d && touch own &&
 *   chown nobody own && python3 -c '<an AF_INET dgram and an AF_UNIX stream socket>'; /usr/bin/true
 * Exec lines of the host namespace (other users of the machine) were removed; nothing else.
 */
const FIXTURE = readFileSync(new URL("./fixtures/bpftrace-0.17-apparmor.jsonl", import.meta.url), "utf8");
const NS = 1251;
const WORKDIR = { path: "/tmp/aa-fx/w", dev: 254 * 2 ** 20, ino: 2285937 };

function feed(table: AppArmorFactTable, text: string): { drops: number; execs: number } {
  let drops = 0;
  let execs = 0;
  for (const line of text.split("\n")) {
    const p = parseAppArmorLine(line);
    if (p.kind === "drop") drops++;
    if (p.kind === "exec") {
      execs++;
      table.exec(p.event.pid);
    }
    if (p.kind === "map") table.map(p.name, p.entries);
  }
  return { drops, execs };
}

const cwdOf = (dir: typeof WORKDIR | undefined): BaseResolver => ({ cwd: () => dir });

describe("apparmor.bt output → AppArmor facts", () => {
  it("reads a real recording: files by intent, relative paths resolved, libraries, sockets, capabilities", () => {
    const table = new AppArmorFactTable({ strlen: APPARMOR_STRLEN, resolver: cwdOf(WORKDIR) });
    const { drops, execs } = feed(table, FIXTURE);
    table.finish();
    expect(drops).toBe(0);
    expect(execs).toBeGreaterThan(8);
    expect(table.namespaces()).toEqual([NS]);
    const f = table.facts(NS);
    const w = (p: string) => `/tmp/aa-fx/w/${p}`;
    expect(f.writePaths).toEqual(expect.arrayContaining([w("f1"), w("d/"), w("d/f2"), w("own")]));
    expect(f.readPaths).toContain(w("d/f2"));
    expect(f.readPaths).not.toContain(w("f1"));
    expect(f.executables).toEqual(
      expect.arrayContaining(["/usr/bin/cat", "/usr/bin/chown", "/usr/bin/mv", "/usr/bin/true"]),
    );
    // Python's extension modules are mapped executable (mmap PROT_EXEC joined by inode).
    expect(f.libraries?.some((l) => l.endsWith(".so"))).toBe(true);
    expect(f.libraries).toContain("/lib/x86_64-linux-gnu/libc.so.6");
    expect(f.network).toEqual(["udp", "unix"]);
    // chown needed CAP_CHOWN; the silent CAP_SYS_ADMIN probe of every mmap is not a need.
    expect(f.capabilities).toEqual(["chown"]);
    expect(table.loss(NS)).toEqual({
      truncated: 0,
      droppedNamespaceEvents: 0,
      unusablePaths: 0,
      unknownCapabilities: 0,
    });
  });

  it("resolves relative paths by inode without /proc, and counts the ones it cannot resolve", () => {
    // Something in the run opened /tmp/aa-fx/w by absolute path: its inode names the base.
    const table = new AppArmorFactTable({ strlen: APPARMOR_STRLEN, resolver: cwdOf(undefined) });
    feed(table, FIXTURE);
    table.finish();
    expect(table.facts(NS).writePaths).toEqual(
      expect.arrayContaining(["/tmp/aa-fx/w/d/f2", "/tmp/aa-fx/w/own"]),
    );
    expect(table.loss(NS).unusablePaths).toBe(0);

    const lone = new AppArmorFactTable({ strlen: APPARMOR_STRLEN, resolver: cwdOf(undefined) });
    lone.map("@p", { "9,3,2,100,5,77,0,0,gone/file": 1, "9,1,1,100,5,77,5,78,other": 1 });
    expect(lone.facts(9).writePaths).toEqual([]);
    lone.map("@p", { "9,1,5,0,0,0,5,77,/srv/app": 1 });
    expect(lone.facts(9).writePaths).toEqual(["/srv/app/gone/file"]);
    lone.map("@p", { "9,3,2,101,5,99,0,0,nowhere": 1 });
    lone.finish();
    expect(lone.facts(9).readPaths).toEqual(["/srv/app/", "/srv/app/other"]);
    expect(lone.loss(9).unusablePaths).toBe(1);
  });

  it("handles each key once, counts kernel truncation and cut paths, and bounds paths per namespace", () => {
    const table = new AppArmorFactTable({
      strlen: 32,
      maxPathsPerNamespace: 2,
      resolver: cwdOf(undefined),
    });
    const k = (path: string) => `7,1,1,0,0,0,5,1,${path}`;
    expect(table.map("@p", { [k("/a")]: 1, [k("/b,c")]: 1 })).toBe(2);
    expect(table.map("@p", { [k("/a")]: 1, [k("/b,c")]: 1 })).toBe(0);
    table.map("@p", { [k("/c")]: 1, [k(`/${"x".repeat(30)}`)]: 1 });
    table.map("@trunc", { "7": 3 });
    table.map("@trunc", { "7": 5 });
    // A comma would end a rule: it is recorded as a one-character wildcard (core paths.ts).
    expect(table.facts(7).readPaths).toEqual(["/a", "/b?c"]);
    expect(table.loss(7)).toEqual({
      truncated: 1 + 5,
      droppedNamespaceEvents: 0,
      unusablePaths: 1,
      unknownCapabilities: 0,
    });
  });

  it("forgets a namespace for good: its keys, still in the kernel maps, are not facts again", () => {
    const table = new AppArmorFactTable({ strlen: APPARMOR_STRLEN, resolver: cwdOf(undefined) });
    const snapshot = { "7,1,1,0,0,0,5,1,/a": 1, "8,1,1,0,0,0,5,1,/b": 1 };
    table.map("@p", snapshot);
    table.map("@cap", { "7,0": 1 });
    table.forget(7);
    expect(table.map("@p", snapshot)).toBe(0);
    table.map("@cap", { "7,0": 1, "7,1": 1 });
    expect(table.namespaces()).toEqual([8]);
    expect(table.facts(8).readPaths).toEqual(["/b"]);
  });

  it("decodes keys strictly and classifies bad lines as drops", () => {
    expect(decodePathKey("1,3,6,9,5,2,0,0,sub/dir")).toEqual({
      mntns: 1,
      op: "change",
      read: false,
      write: true,
      directory: true,
      pid: 9,
      baseDev: 5,
      baseIno: 2,
      dev: 0,
      ino: 0,
      path: "sub/dir",
    });
    expect(decodePathKey("1,9,1,0,0,0,0,0,/x")).toBeUndefined();
    expect(decodePathKey("1,1,1,0,0,0,0,0,")).toBeUndefined();
    expect(decodePathKey("1,1,1,/x")).toBeUndefined();
    const raw = decodeSocketKey("3,17,3,0");
    expect(raw === undefined ? undefined : socketFamilyProtocol(raw)).toBeUndefined();
    const inet6 = decodeSocketKey("3,10,1,6");
    expect(inet6 === undefined ? undefined : socketFamilyProtocol(inet6)).toEqual({
      family: "inet6",
      protocol: "tcp",
    });
    expect(decodeSysAdminKey("4,\n    cap_capable+131\n    security_vm_enough_memory_mm+54\n")).toEqual({
      mntns: 4,
      need: false,
    });
    expect(decodeSysAdminKey("4,\n    cap_capable+131\n    do_mount+20\n")).toEqual({ mntns: 4, need: true });
    expect(parseAppArmorLine("not json")).toMatchObject({ kind: "drop", reason: "invalid_json" });
    expect(parseAppArmorLine('{"type":"printf","data":{}}')).toMatchObject({
      kind: "drop",
      reason: "unexpected",
    });
    expect(parseAppArmorLine('{"type":"map","data":{"@other":{}}}')).toMatchObject({
      kind: "drop",
      reason: "schema",
    });
    expect(parseAppArmorLine('{"type":"value","data":["exec",1,2,3,"sh","/bin/sh",9]}')).toEqual({
      kind: "exec",
      event: { pid: 1, ppid: 2, mntns: 3, comm: "sh", filename: "/bin/sh", nsId: 9 },
    });
  });
});
