import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { SelinuxProfile } from "@secprof/core";
import { missing } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CommandRunner, runCommand, SelinuxKernel } from "./kernel.js";
import { renderForHost } from "./render.js";
import { prepareSelinuxStore, type SelinuxStore } from "./validate/selinux-compile.js";

/**
 * `SelinuxKernel` against the real `semodule`, pointed (`-p <copy> -n`) at a private copy of the
 * reference-policy store the validator prepares (validate/selinux-compile.ts; cached in the temp
 * dir): a profile called like a refpolicy module gets its own `secprof-<name>` module next to
 * it, and dotted names are module names libsemanage takes. The machine's store is not touched.
 */

const skip = missing("root", "semodule", "secilc");
const CACHE = path.join(tmpdir(), "secprof-selinux-store-cache");

/** Paths, sizes and mtimes of the machine's own SELinux directories. */
function machineStore(): string {
  const out: string[] = [];
  const walk = (p: string) => {
    if (!existsSync(p)) return;
    const s = lstatSync(p);
    out.push(`${p} ${s.size} ${s.mtimeMs}`);
    if (s.isDirectory()) for (const e of readdirSync(p).sort()) walk(path.join(p, e));
  };
  for (const r of ["/etc/selinux", "/var/lib/selinux"]) walk(r);
  return out.join("\n");
}

function cil(name: string): string {
  const p: SelinuxProfile = {
    apiVersion: "security-profiles-operator.x-k8s.io/v1",
    kind: "SelinuxProfile",
    metadata: { name },
    spec: {
      inherit: [{ kind: "System", name: "container" }],
      mode: "Enforcing",
      allow: { "@self": { tcp_socket: ["listen"] }, http_port_t: { tcp_socket: ["name_bind"] } },
    },
  };
  const r = renderForHost(p);
  if (!r.ok) throw new Error(r.errors.join("; "));
  return r.text;
}

describe.skipIf(skip)(`SelinuxKernel with the real semodule (${skip ?? "private store"})`, () => {
  let store: SelinuxStore;
  let work: string;
  let root: string;
  let kernel: SelinuxKernel;
  let before: string;

  const modules = (): Map<string, string> => {
    const out = execFileSync("semodule", ["-p", root, "-s", "default", "--list-modules=full"], {
      encoding: "utf8",
    });
    // "<priority> <name> <lang>" per line
    const m = new Map<string, string>();
    for (const line of out.split("\n")) {
      const [prio, name] = line.trim().split(/\s+/);
      if (prio !== undefined && name !== undefined) m.set(name, prio);
    }
    return m;
  };

  beforeAll(async () => {
    before = machineStore();
    store = await prepareSelinuxStore({ cacheDir: CACHE });
    work = await mkdtemp(path.join(tmpdir(), "secprof-kernel-"));
    root = path.join(work, "root");
    execFileSync("cp", ["-a", store.root, root]);
    const run: CommandRunner = (cmd, args, stdin) =>
      runCommand(cmd, ["-p", root, "-s", "default", "-n", ...args], stdin);
    kernel = new SelinuxKernel({ run });
  }, 900_000);

  afterAll(async () => {
    await store?.dispose();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
    expect(machineStore()).toBe(before);
  });

  it("a profile named like a refpolicy module (apache) is installed as secprof-apache, next to it", async () => {
    expect(modules().get("apache")).toBe("100");
    await kernel.load("apache", cil("apache"));
    let m = modules();
    expect(m.get("secprof-apache")).toBe("400");
    expect(m.get("apache")).toBe("100");
    await kernel.unload("apache");
    m = modules();
    expect(m.has("secprof-apache")).toBe(false);
    expect(m.get("apache")).toBe("100");
  }, 120_000);

  it("dotted names work: web.v2 is the module secprof-web.v2", async () => {
    await kernel.load("web.v2", cil("web-v2"));
    expect(modules().get("secprof-web.v2")).toBe("400");
    await kernel.unload("web.v2");
    expect(modules().has("secprof-web.v2")).toBe(false);
  }, 120_000);
});
