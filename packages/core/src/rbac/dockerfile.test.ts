/**
 * deploy/docker/Dockerfile, checked without a Docker engine: pinned base image, every COPY source
 * exists in the repository and survives .dockerignore, every stage it copies from comes earlier,
 * every command runs a file the build produces, and users match docker-compose.yml and the
 * Kubernetes manifests.
 */
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DAEMON_ENV, deployTree, NODE_FLAGS } from "./manifests.js";

// biome-ignore lint/suspicious/noExplicitAny: untyped parsed YAML
type Any = Record<string, any>;
const root = new URL("../../../../", import.meta.url);
const read = (rel: string) => readFileSync(new URL(rel, root), "utf8");

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  from: string;
  body: Instruction[];
}

/** Instructions in order (continuation lines joined, comments and the parser directive dropped). */
function instructions(text: string): Instruction[] {
  const joined = text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n")
    .replace(/\\\n/g, " ");
  return joined
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .map((l) => {
      const [op = "", ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
}

const dockerfile = instructions(read("deploy/docker/Dockerfile"));
const globalArgs = new Map(
  dockerfile
    .slice(
      0,
      dockerfile.findIndex((i) => i.op === "FROM"),
    )
    .filter((i) => i.op === "ARG")
    .map((i) => i.args.split("=") as [string, string]),
);
const stages: Stage[] = [];
for (const i of dockerfile) {
  if (i.op === "FROM") {
    const m = /^(\S+)\s+AS\s+(\S+)$/i.exec(i.args);
    if (!m?.[1] || !m[2]) throw new Error(`unnamed stage: FROM ${i.args}`);
    stages.push({ name: m[2], from: m[1], body: [] });
  } else stages.at(-1)?.body.push(i);
}
const stage = (name: string) => stages.find((s) => s.name === name);

/** What a target inherits: its chain of stages, base first. */
function chain(name: string): Stage[] {
  const s = stage(name);
  if (s === undefined) return [];
  return [...chain(s.from), s];
}
/** The last value of an instruction along a target's chain. */
const effective = (target: string, op: string) =>
  chain(target)
    .flatMap((s) => s.body)
    .filter((i) => i.op === op)
    .at(-1)?.args;
const jsonArgs = (s: string | undefined): string[] => (s === undefined ? [] : (JSON.parse(s) as string[]));

/** COPY/ADD flags and paths: `--from=x a b dest` → flags {from: x}, sources [a, b], dest. */
function copyParts(args: string) {
  const words = args.split(/\s+/);
  const flags = Object.fromEntries(
    words.filter((w) => w.startsWith("--")).map((w) => w.slice(2).split("=") as [string, string]),
  );
  const paths = words.filter((w) => !w.startsWith("--"));
  return { flags, sources: paths.slice(0, -1), dest: paths.at(-1) };
}

/** .dockerignore patterns as regular expressions over repository-relative paths. */
const ignored = read(".dockerignore")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"))
  .map(
    (p) =>
      new RegExp(
        `^${p
          .replace(/[.+^${}()|[\]\\]/g, "\\$&")
          .replace(/\*\*\//g, "\0")
          .replace(/\*/g, "[^/]*")
          .replace(/\0/g, "(.*/)?")}(/.*)?$`,
      ),
  );
const isIgnored = (rel: string) => ignored.some((r) => r.test(rel.replace(/\/$/, "")));

/** `node [--flag…] X` commands: the JavaScript file X, relative to WORKDIR /app (the image's layout). */
function nodeScript(argv: string[]): string | undefined {
  const script = argv.slice(1).find((a) => !a.startsWith("--"));
  if (argv[0] !== "node" || script === undefined) return undefined;
  return script.replace(/^\/app\//, "");
}
/**
 * A packages/<p>/dist/<f>.js, or the bundle dist/bundled/<f>.mjs of scripts/bundle.mjs, that the
 * build produces: its source exists, tsc -b builds <p> (and the bundle script, <p>'s entry).
 */
function built(js: string): boolean {
  const m =
    /^packages\/([a-z-]+)\/dist\/(.+)\.js$/.exec(js) ??
    /^packages\/([a-z-]+)\/dist\/bundled\/([a-z-]+)\.mjs$/.exec(js);
  if (!m) return false;
  if (js.endsWith(".mjs") && !new RegExp(`\\b${m[1]}: \\[[^\\]]*"${m[2]}"`).test(read("scripts/bundle.mjs")))
    return false;
  const refs = (JSON.parse(read("tsconfig.json")) as { references: { path: string }[] }).references;
  return (
    refs.some((r) => r.path === `packages/${m[1]}`) &&
    existsSync(new URL(`packages/${m[1]}/src/${m[2]}.ts`, root))
  );
}

const compose = parse(read("docker-compose.yml"), { merge: true }) as Any;
const built_targets = Object.entries(compose.services as Record<string, Any>).filter(([, s]) => s.build);

describe("deploy/docker/Dockerfile", () => {
  it("starts every stage from the pinned node:20 bookworm-slim image or an earlier stage", () => {
    expect(globalArgs.get("NODE_IMAGE")).toMatch(/^node:20\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    stages.forEach((s, i) => {
      const earlier = stages.slice(0, i).map((x) => x.name);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a Dockerfile ARG reference
      expect(s.from === "${NODE_IMAGE}" || earlier.includes(s.from), `${s.name} FROM ${s.from}`).toBe(true);
    });
  });

  it("copies only files that exist in the repository and are in the build context", () => {
    const copies = stages.flatMap((s) => s.body.filter((i) => i.op === "COPY" || i.op === "ADD"));
    expect(copies.length).toBeGreaterThan(0);
    expect(copies.filter((c) => c.op === "ADD")).toEqual([]);
    for (const c of copies) {
      const { flags, sources } = copyParts(c.args);
      if (flags.from !== undefined) continue;
      for (const src of sources) {
        expect(existsSync(new URL(src, root)), `COPY ${src}: not in the repository`).toBe(true);
        expect(isIgnored(src), `COPY ${src}: excluded by .dockerignore`).toBe(false);
      }
    }
  });

  it("copies every workspace's package.json before npm ci (the lock file needs them all)", () => {
    const workspaces = (JSON.parse(read("package-lock.json")) as Any).packages[""].workspaces as string[];
    expect(workspaces).toEqual(["packages/*"]);
    const lockWorkspaces = Object.keys((JSON.parse(read("package-lock.json")) as Any).packages)
      .filter((k) => /^packages\/[^/]+$/.test(k))
      .sort();
    for (const name of ["build", "deps"]) {
      const copied = (stage(name)?.body ?? [])
        .filter((i) => i.op === "COPY")
        .flatMap((i) => copyParts(i.args).sources)
        .filter((s) => /^packages\/[^/]+\/package\.json$/.test(s))
        .map((s) => s.replace(/\/package\.json$/, ""))
        .sort();
      expect(copied, name).toEqual(lockWorkspaces);
    }
  });

  it("copies from earlier stages only, and .dockerignore keeps host builds out", () => {
    stages.forEach((s, i) => {
      for (const c of s.body.filter((x) => x.op === "COPY")) {
        const from = copyParts(c.args).flags.from;
        if (from !== undefined)
          expect(
            stages.slice(0, i).map((x) => x.name),
            `${s.name}: COPY --from=${from}`,
          ).toContain(from);
      }
    });
    for (const p of ["node_modules", "packages/core/node_modules", "packages/core/dist", ".git"])
      expect(isIgnored(p), p).toBe(true);
    expect(isIgnored("packages/core/src/index.ts")).toBe(false);
  });

  it("every target's command runs a file the build produces", () => {
    const finals = stages.filter((s) => !["build", "deps"].includes(s.name));
    for (const s of finals) {
      const argv = [...jsonArgs(effective(s.name, "ENTRYPOINT")), ...jsonArgs(effective(s.name, "CMD"))];
      const js = nodeScript(argv);
      expect(js, `${s.name}: ${argv.join(" ")}`).toBeDefined();
      expect(built(js as string), `${s.name} runs ${js}, which the build does not produce`).toBe(true);
      expect(effective(s.name, "WORKDIR") === "/app" || argv[1]?.startsWith("/app/"), s.name).toBe(true);
    }
  });

  it("the Kubernetes manifests' commands exist in the `secprof` image", () => {
    expect(effective("secprof", "WORKDIR")).toBe("/app");
    const containers = [...deployTree().values()]
      .flat()
      .flatMap((o) => {
        const pod = (o as Any).spec?.template?.spec;
        return pod ? [...(pod.initContainers ?? []), ...pod.containers] : [];
      })
      .filter((c: Any) => c.image === "secprof:latest");
    expect(containers.length).toBeGreaterThan(0);
    for (const c of containers) {
      const js = nodeScript(c.command);
      if (js === undefined) expect(c.command[0], c.name).toBe("/bin/sh");
      else expect(built(js), `${c.name} runs ${js}, which the build does not produce`).toBe(true);
    }
  });

  it("the image and scripts/single-host run node as the benches measured it (DAEMON_ENV, NODE_FLAGS)", () => {
    const env = effective("secprof", "ENV") ?? "";
    const pairs = Object.entries(DAEMON_ENV).map(([k, v]) => `${k}=${v}`);
    for (const pair of pairs) expect(env.split(/\s+/)).toContain(pair);
    const launcher = /^daemon_node=\(env (.*)\)$/m.exec(read("scripts/single-host"))?.[1];
    expect(launcher).toBe([...pairs, "node", ...NODE_FLAGS].join(" "));
  });

  it("users follow the security model and docker-compose.yml: root only for the recorder", () => {
    expect(effective("secprof", "USER")).toBe("65535:65535");
    for (const s of stages.filter((x) => chain(x.name).some((c) => c.name === "secprof")))
      expect(effective(s.name, "USER"), s.name).toBe(s.name === "recorder" ? "0:0" : "65535:65535");
  });

  it("docker-compose.yml builds existing targets and runs them as the user the target declares", () => {
    expect(built_targets.length).toBeGreaterThan(0);
    for (const [name, svc] of built_targets) {
      expect(svc.build.dockerfile).toBe("deploy/docker/Dockerfile");
      expect(svc.build.context).toBe(".");
      expect(stage(svc.build.target), `${name}: target ${svc.build.target}`).toBeDefined();
      // The installer's init and apply steps run the non-root image as root (see compose.test.ts).
      if (!["installer-init", "installer-apply"].includes(name))
        expect(svc.user, name).toBe(effective(svc.build.target, "USER"));
      // A command given in compose replaces CMD: it too must run a file the build produces.
      const argv = [
        ...jsonArgs(effective(svc.build.target, "ENTRYPOINT")),
        ...(svc.command ?? jsonArgs(effective(svc.build.target, "CMD"))),
      ];
      const js = nodeScript(argv);
      expect(js !== undefined && built(js), `${name} runs ${argv.join(" ")}`).toBe(true);
    }
  });
});
