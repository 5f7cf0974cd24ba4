import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ApprovalRecord, ProfileObject } from "@secprof/core";
import { missing } from "@secprof/testkit";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HostRef, HostWriteError, HostWriter, isTempName } from "./host-writer.js";
import { reconcile } from "./install.js";
import type { KernelPolicy } from "./kernel.js";
import { guardFor, profileDigest } from "./render.js";
import { noUsage } from "./usage.js";

/**
 * Hostile tests of the host writer, against real processes and real filesystems:
 * - kill -9 of a writer process at random points (file is always old or new; no temp survives
 *   a restart);
 * - a racing process swapping directories on the path for symlinks during thousands of installs
 *   (nothing is written outside the root), with a naive writer as a control that the race bites;
 * - a full filesystem (a 64 KiB tmpfs): the old profile stays, ENOSPC is reported, no temp left;
 * - the syscall order under strace: O_EXCL|O_NOFOLLOW temp → fsync(file) → rename → fsync(dir);
 * - explicit owner (SPO's 65535) and modes.
 * Counts are printed so they can be quoted. SECPROF_KILL_ITERATIONS / SECPROF_RACE_INSTALLS scale them.
 */

const skip = missing("root");
const KILLS = Number(process.env.SECPROF_KILL_ITERATIONS ?? 250);
const RACE_INSTALLS = Number(process.env.SECPROF_RACE_INSTALLS ?? 3000);
const here = path.dirname(fileURLToPath(import.meta.url));
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

let work: string;
let jsDir: string;

/** The real safe-path.ts + host-writer.ts, transpiled for a plain `node` child process. */
async function buildChildModules(): Promise<void> {
  jsDir = path.join(work, "js");
  await mkdir(jsDir);
  await writeFile(path.join(jsDir, "package.json"), '{"type":"module"}\n');
  for (const f of ["safe-path.ts", "host-writer.ts"]) {
    const src = await readFile(path.join(here, f), "utf8");
    const out = ts.transpileModule(src, {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    }).outputText;
    await writeFile(path.join(jsDir, f.replace(/\.ts$/, ".js")), out);
  }
  // mode loop: wait for "go" on stdin, then write A/B alternately forever (prints "ready" when
  // loaded, "go" when writing); once: one write of B, exit.
  await writeFile(
    path.join(jsDir, "writer-child.js"),
    `import { readFileSync } from "node:fs";
import { HostWriter } from "./host-writer.js";
const [mode, root, a, b] = process.argv.slice(2);
const A = readFileSync(a);
const B = readFileSync(b);
const ref = { kind: "SeccompProfile", namespace: "shop", name: "web" };
if (mode === "once") { const w = await HostWriter.open({ root }); await w.write(ref, B); process.exit(0); }
process.stdout.write("ready\\n");
await new Promise((r) => process.stdin.once("data", r));
const w = await HostWriter.open({ root });
process.stdout.write("go\\n");
for (let i = 0; ; i++) await w.write(ref, i % 2 === 0 ? B : A);
`,
  );
  // Swaps directories on the installer's paths for symlinks to OUTSIDE, and plants symlinks at
  // the target files, in a tight loop until SIGTERM; prints how many swaps it made.
  await writeFile(
    path.join(jsDir, "racer.js"),
    `import { renameSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
const [root, outside] = process.argv.slice(2);
const dirs = [
  "var/lib/kubelet/seccomp/operator/shop", "var/lib/kubelet/seccomp/operator", "var/lib/kubelet/seccomp",
  "var/lib/kubelet", "var", "etc/apparmor.d", "etc",
].map((d) => root + "/" + d);
const files = [root + "/var/lib/kubelet/seccomp/operator/shop/web.json", root + "/etc/apparmor.d/web"];
let swaps = 0, planted = 0, stop = false;
process.on("SIGTERM", () => { stop = true; });
const spin = (n) => { for (let i = 0; i < n; i++); };
while (!stop) {
  for (const d of dirs) {
    try { renameSync(d, d + ".real"); } catch { continue; }
    try { symlinkSync(outside, d); swaps++; } catch {}
    spin(2000);
    try { unlinkSync(d); } catch {}
    try { renameSync(d + ".real", d); } catch { rmSync(d + ".real", { recursive: true, force: true }); }
  }
  for (const f of files) {
    try { unlinkSync(f); symlinkSync(outside + "/victim", f); planted++; } catch {}
  }
  await new Promise((r) => setImmediate(r));
}
process.stdout.write(JSON.stringify({ swaps, planted }) + "\\n");
process.exit(0);
`,
  );
}

async function listTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isSymbolicLink()) out[p] = `-> ${await readlink(p)}`;
      else out[p] = sha(await readFile(p));
    }
  };
  await walk(dir);
  return out;
}

describe.skipIf(skip)(`host writer under attack (${skip ?? "root"})`, () => {
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), "secprof-hostile-"));
    await buildChildModules();
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it(`kill -9 during writes, ${KILLS} times: the file is always the old or the new version and no temp survives a restart`, async () => {
    // 1 MiB and 1 MiB + 7: a torn or truncated file can be neither.
    const A = Buffer.alloc(1 << 20, 0x41);
    const B = Buffer.alloc((1 << 20) + 7, 0x42);
    const aFile = path.join(work, "A");
    const bFile = path.join(work, "B");
    await writeFile(aFile, A);
    await writeFile(bFile, B);
    const ok = new Set([sha(A), sha(B)]);
    const ref: HostRef = { kind: "SeccompProfile", namespace: "shop", name: "web" };
    const tally = { kills: 0, sawA: 0, sawB: 0, tempsLeft: 0, cleaned: 0, bad: 0 };

    // Two lanes, each with its own root and one writer process at a time (node start-up dominates).
    const lane = async (n: number, count: number) => {
      const root = path.join(work, `kill-root-${n}`);
      await mkdir(root);
      const w0 = await HostWriter.open({ root });
      const target = w0.fileFor(ref).path;
      await w0.write(ref, A);
      await w0.close();
      const dir = path.dirname(target);
      // The next writer process is started while the current one runs, so node's start-up
      // overlaps; it only opens the writer when told to go.
      const start = () => {
        const c = spawn("node", [path.join(jsDir, "writer-child.js"), "loop", root, aFile, bFile], {
          stdio: ["pipe", "pipe", "inherit"],
        });
        const lines: string[] = [];
        const waiters: (() => void)[] = [];
        c.stdout.setEncoding("utf8").on("data", (d: string) => {
          lines.push(...d.split("\n").filter(Boolean));
          for (const w of waiters.splice(0)) w();
        });
        const until = (word: string) =>
          new Promise<void>((resolve, reject) => {
            const check = () => (lines.includes(word) ? resolve() : waiters.push(check));
            c.once("exit", (code) => reject(new Error(`writer exited early (${code}) before "${word}"`)));
            check();
          });
        return { c, until };
      };
      let next = start();
      for (let i = 0; i < count; i++) {
        const { c: child, until } = next;
        await until("ready");
        child.stdin.write("go\n");
        await until("go");
        next = start();
        await new Promise((r) => setTimeout(r, Math.random() * 20));
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        await exited;
        tally.kills++;
        const content = await readFile(target);
        if (!ok.has(sha(content))) tally.bad++;
        else if (content.equals(A)) tally.sawA++;
        else tally.sawB++;
        const left = (await readdir(dir)).filter(isTempName);
        tally.tempsLeft += left.length;
        // Restart: a new writer cleans up before anything else.
        const w = await HostWriter.open({ root });
        const cl = await w.cleanStaleTemps();
        tally.cleaned += cl.length;
        if (cl.length !== left.length)
          console.log(`kill -9: temps seen ${left.join()} but removed ${cl.join()}`);
        await w.close();
        expect((await readdir(dir)).filter((x) => x.startsWith("."))).toEqual([]);
        expect(ok.has(sha(await readFile(target)))).toBe(true);
      }
      const last = new Promise((r) => next.c.once("exit", r));
      next.c.kill("SIGKILL");
      await last;
    };
    const started = Date.now();
    await Promise.all([lane(0, Math.ceil(KILLS / 2)), lane(1, Math.floor(KILLS / 2))]);
    console.log(
      `kill -9: ${tally.kills} kills in ${((Date.now() - started) / 1000).toFixed(1)} s; file old/new: ${tally.sawA}/${tally.sawB}; ` +
        `partial or other content: ${tally.bad}; kills that left a temp file (landed mid-write): ${tally.tempsLeft}; ` +
        `removed at restart: ${tally.cleaned}`,
    );
    expect(tally.bad).toBe(0);
    expect(tally.cleaned).toBe(tally.tempsLeft);
    expect(tally.tempsLeft).toBeGreaterThan(0); // the kills did land inside writes
  }, 120_000);

  it(`a racer swapping directories for symlinks during ${RACE_INSTALLS} installs: nothing is written outside the root`, async () => {
    // tmpfs: fsync is cheap, so thousands of installs fit in seconds and the race window is hot.
    const base = await mkdtemp(path.join(existsSync("/dev/shm") ? "/dev/shm" : work, "secprof-race-"));
    try {
      const root = path.join(base, "root");
      const outside = path.join(base, "outside");
      await mkdir(root);
      await mkdir(outside);
      await writeFile(path.join(outside, "victim"), "precious\n");
      const before = await listTree(outside);
      const writer = await HostWriter.open({ root });
      const guard = guardFor("AppArmorProfile");
      const racer = spawn("node", [path.join(jsDir, "racer.js"), root, outside], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let racerOut = "";
      racer.stdout.on("data", (d: Buffer) => {
        racerOut += d.toString();
      });
      await new Promise((r) => setTimeout(r, 50));
      const errors = new Map<string, number>();
      let ok = 0;
      const refs: HostRef[] = [
        { kind: "SeccompProfile", namespace: "shop", name: "web" },
        { kind: "AppArmorProfile", name: "web" },
      ];
      for (let i = 0; i < RACE_INSTALLS; i++) {
        const ref = refs[i % 2] as HostRef;
        try {
          if (i % 7 === 6) await writer.remove(ref, ref.kind === "AppArmorProfile" ? guard : undefined);
          else
            await writer.write(
              ref,
              `# Generated by secprof ${i}\n`,
              ref.kind === "AppArmorProfile" ? guard : undefined,
            );
          ok++;
        } catch (err) {
          expect(err).toBeInstanceOf(HostWriteError);
          const code = (err as HostWriteError).code;
          errors.set(code, (errors.get(code) ?? 0) + 1);
        }
        if (i % 200 === 0) await writer.cleanStaleTemps().catch(() => {});
      }
      const exited = new Promise((r) => racer.once("exit", r));
      racer.kill("SIGTERM");
      await exited;
      await writer.close();
      const stats = JSON.parse(racerOut.trim() || "{}") as { swaps?: number; planted?: number };
      console.log(
        `race: ${RACE_INSTALLS} installs/removes, ${ok} succeeded, refused: ${JSON.stringify(Object.fromEntries(errors))}; ` +
          `racer made ${stats.swaps} directory→symlink swaps and planted ${stats.planted} file symlinks; outside writes: 0`,
      );
      expect(await listTree(outside)).toEqual(before);
      expect(await readFile(path.join(outside, "victim"), "utf8")).toBe("precious\n");
      expect(stats.swaps ?? 0).toBeGreaterThan(100);
      expect(ok).toBeGreaterThan(0);

      // Control: the same race against a naive path-based writer does escape, so the race bites.
      const naiveRoot = path.join(base, "naive-root");
      const naiveOut = path.join(base, "naive-outside");
      await mkdir(naiveRoot);
      await mkdir(naiveOut);
      await writeFile(path.join(naiveOut, "victim"), "precious\n");
      const racer2 = spawn("node", [path.join(jsDir, "racer.js"), naiveRoot, naiveOut], {
        stdio: ["ignore", "ignore", "inherit"],
      });
      await new Promise((r) => setTimeout(r, 50));
      // Escaped: anything but the untouched victim in the outside directory.
      const escapedNow = async () =>
        (await readdir(naiveOut)).length > 1 ||
        (await readFile(path.join(naiveOut, "victim"), "utf8")) !== "precious\n";
      let escaped = false;
      let attempts = 0;
      const deadline = Date.now() + 5000;
      while (!escaped && attempts < RACE_INSTALLS && Date.now() < deadline) {
        attempts++;
        try {
          const d = path.join(naiveRoot, "var/lib/kubelet/seccomp/operator/shop");
          mkdirSync(d, { recursive: true });
          writeFileSync(path.join(d, "web.json"), `naive ${attempts}\n`);
        } catch {
          // ENOENT etc. while the racer swaps
        }
        escaped = await escapedNow();
      }
      const exited2 = new Promise((r) => racer2.once("exit", r));
      racer2.kill("SIGTERM");
      await exited2;
      console.log(
        `race control: a naive mkdir -p + writeFile escaped the root: ${escaped ? `yes, after ${attempts} writes` : "no"}`,
      );
      expect(escaped).toBe(true);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  }, 120_000);

  it("a full filesystem: the old profile stays, ENOSPC is reported, no temp file is left", async () => {
    const mnt = await mkdtemp(path.join(work, "full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]);
    try {
      const writer = await HostWriter.open({ root: mnt });
      const ref: HostRef = { kind: "SeccompProfile", namespace: "shop", name: "web" };
      const old = `${JSON.stringify({ defaultAction: "SCMP_ACT_ERRNO", n: "old" })}\n`;
      await writer.write(ref, old);
      spawnSync("dd", ["if=/dev/zero", `of=${mnt}/filler`, "bs=4k"], { stdio: "ignore" });
      const big = Buffer.alloc(48 * 1024, 0x7a);
      const err = await writer.write(ref, big).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HostWriteError);
      expect((err as HostWriteError).code).toBe("ENOSPC");
      expect((err as Error).message).toContain("no space left on device");
      const file = writer.fileFor(ref).path;
      expect(await readFile(file, "utf8")).toBe(old);
      expect((await readdir(path.dirname(file))).filter((n) => n.startsWith("."))).toEqual([]);
      // A new profile in a new directory fails the same way and leaves nothing half-made behind.
      const err2 = await writer
        .write({ kind: "AppArmorProfile", name: "new" }, Buffer.alloc(48 * 1024, 0x41))
        .catch((e: unknown) => e);
      expect((err2 as HostWriteError).code).toBe("ENOSPC");
      expect(existsSync(path.join(mnt, "etc/apparmor.d/new"))).toBe(false);
      // Space comes back: the next write succeeds.
      await rm(path.join(mnt, "filler"));
      expect((await writer.write(ref, big)).changed).toBe(true);
      await writer.close();
    } finally {
      spawnSync("umount", [mnt]);
    }
  });

  it("a full filesystem through reconcile: status Error/WriteFailed says so, the approved old profile stays", async () => {
    const mnt = await mkdtemp(path.join(work, "full2-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]);
    try {
      const writer = await HostWriter.open({ root: mnt });
      const profile = (names: string[]): ProfileObject => ({
        apiVersion: "security-profiles-operator.x-k8s.io/v1",
        kind: "SeccompProfile",
        metadata: { name: "web", namespace: "shop" },
        spec: { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names, action: "SCMP_ACT_ALLOW" }] },
      });
      const approval = (p: ProfileObject): ApprovalRecord => ({
        kind: "SeccompProfile",
        namespace: "shop",
        name: "web",
        digest: profileDigest(p),
        approvedBy: "alice",
        approvedAt: "2025-01-01T00:00:00.000Z",
      });
      const kernel: KernelPolicy = {
        unavailable: async () => "none",
        load: async () => {},
        unload: async () => {},
      };
      const deps = {
        writer,
        node: "n",
        kernel: { AppArmorProfile: kernel, SelinuxProfile: kernel },
        usage: noUsage,
        seccomp: { nativeArch: "x86_64" as const },
      };
      const v1 = profile(["read"]);
      const r1 = await reconcile(
        { desired: [{ object: v1 }], approvals: [approval(v1)], installed: [] },
        deps,
      );
      const file = writer.fileFor({ kind: "SeccompProfile", namespace: "shop", name: "web" }).path;
      const before = await readFile(file, "utf8");
      spawnSync("dd", ["if=/dev/zero", `of=${mnt}/filler`, "bs=4k"], { stdio: "ignore" });
      // A big enough v2 that it cannot fit in what is left.
      const names = [
        "read",
        "write",
        "openat",
        "close",
        "mmap",
        "munmap",
        "brk",
        "futex",
        "execve",
        "exit_group",
      ];
      const v2 = profile(names);
      (v2.spec as { syscalls: unknown[] }).syscalls = Array.from({ length: 400 }, () => ({
        names,
        action: "SCMP_ACT_ALLOW",
      }));
      const r2 = await reconcile(
        { desired: [{ object: v2 }], approvals: [approval(v2)], installed: r1.installed },
        deps,
      );
      expect(r2.statuses).toMatchObject([{ state: "Error", reason: "WriteFailed" }]);
      expect(r2.statuses[0]?.message).toMatch(/no space left on device.*stays in place/);
      expect(r2.installed).toEqual(r1.installed);
      expect(await readFile(file, "utf8")).toBe(before);
      expect((await readdir(path.dirname(file))).filter((n) => n.startsWith("."))).toEqual([]);
      await writer.close();
    } finally {
      spawnSync("umount", [mnt]);
    }
  });

  it("strace shows O_EXCL|O_NOFOLLOW temp → fsync(file) → rename → fsync(dir)", async (ctx) => {
    if (spawnSync("strace", ["-V"]).status !== 0) ctx.skip();
    const root = path.join(work, "strace-root");
    await mkdir(root);
    const a = path.join(work, "sa");
    await writeFile(a, "{}\n");
    const trace = path.join(work, "trace");
    const r = spawnSync(
      "strace",
      [
        "-f",
        "-qq",
        "-o",
        trace,
        "-e",
        "trace=openat,fsync,rename,renameat,renameat2",
        "node",
        path.join(jsDir, "writer-child.js"),
        "once",
        root,
        a,
        a,
      ],
      { encoding: "utf8" },
    );
    expect(r.status).toBe(0);
    const lines = (await readFile(trace, "utf8")).split("\n");
    const tmpOpen = lines.findIndex((l) =>
      /openat\(.*secprof-tmp", O_WRONLY\|O_CREAT\|O_EXCL\|O_NOFOLLOW/.test(l),
    );
    expect(tmpOpen).toBeGreaterThanOrEqual(0);
    const fileFd = /= (\d+)$/.exec(lines[tmpOpen] ?? "")?.[1];
    const dirFd = /\/proc\/self\/fd\/(\d+)\//.exec(lines[tmpOpen] ?? "")?.[1];
    const idx = (re: RegExp, from: number) => lines.findIndex((l, i) => i > from && re.test(l));
    const fsyncFile = idx(new RegExp(`fsync\\(${fileFd}\\)\\s+= 0`), tmpOpen);
    const ren = idx(/rename(at2?)?\(.*secprof-tmp.*web\.json/, fsyncFile);
    const fsyncDir = idx(new RegExp(`fsync\\(${dirFd}\\)\\s+= 0`), ren);
    expect([fsyncFile > tmpOpen, ren > fsyncFile, fsyncDir > ren]).toEqual([true, true, true]);
  });

  it("sets the configured owner and modes on files and on the directories it creates", async () => {
    const root = path.join(work, "owner-root");
    await mkdir(root);
    const writer = await HostWriter.open({ root, owner: { seccomp: { uid: 65535, gid: 65535 } } });
    const ref: HostRef = { kind: "SeccompProfile", namespace: "shop", name: "web" };
    const r = await writer.write(ref, "{}\n");
    const st = await stat(r.path);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([65535, 65535, 0o644]);
    expect((await stat(path.dirname(r.path))).uid).toBe(65535);
    // Drifted ownership with identical bytes is repaired.
    await chmod(r.path, 0o644);
    execFileSync("chown", ["0:0", r.path]);
    expect((await writer.write(ref, "{}\n")).changed).toBe(true);
    expect((await lstat(r.path)).uid).toBe(65535);
    await writer.close();
  });
});
