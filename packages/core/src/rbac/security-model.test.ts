import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { type Obj, renderOverlay } from "./manifests.js";
import { API_CALLS } from "./table.js";

// biome-ignore lint/suspicious/noExplicitAny: untyped parsed YAML
type Any = Record<string, any>;
const root = new URL("../../../../", import.meta.url);
const doc = readFileSync(new URL("docs/security-model.md", root), "utf8");

/** Rows (cells) of the first markdown table after the heading. */
function table(heading: string): string[][] {
  const lines = doc.split("\n");
  const start = lines.findIndex((l) => l.replace(/^#+\s*/, "") === heading);
  if (start < 0) throw new Error(`no section ${heading}`);
  const rows: string[][] = [];
  let i = start + 1;
  while (i < lines.length && !lines[i]?.startsWith("|")) i++;
  for (; i < lines.length && lines[i]?.startsWith("|"); i++) {
    const cells = (lines[i] as string)
      .slice(1, -1)
      .split("|")
      .map((c) => c.trim());
    if (!cells.every((c) => /^-+$/.test(c))) rows.push(cells);
  }
  return rows.slice(1);
}
const yesNo = (b: boolean) => (b ? "Yes" : "No");

const overlays = { record: renderOverlay("record"), "install-only": renderOverlay("install-only") };
const find = (objs: Obj[], kind: string, name: string) =>
  objs.find((o) => o.kind === kind && (o.metadata as Any).name === name) as Any | undefined;
const podSpec = (w: Any) => w.spec.template.spec as Any;
const mainContainer = (w: Any) => podSpec(w).containers[0] as Any;

function runtimeFacts(w: Any) {
  const spec = podSpec(w);
  const c = mainContainer(w);
  const sc = { ...(spec.securityContext ?? {}), ...(c.securityContext ?? {}) };
  return {
    "Requires root user": yesNo(sc.runAsUser === 0 || sc.runAsNonRoot !== true),
    "Requires HostPID": yesNo(spec.hostPID === true),
    'Requires "privileged container"': yesNo(sc.privileged === true),
    "Requires SSH Access to nodes": "No",
    "Access to host's mount namespace": yesNo(spec.hostPID === true && sc.privileged === true),
    "AppArmor Profile": sc.appArmorProfile === undefined ? "runtime/default" : sc.appArmorProfile.type,
    "SELinux type": sc.seLinuxOptions?.type ?? "container_t",
    "Seccomp Profile": sc.seccompProfile?.type ?? "Unconfined",
    Capabilities: sc.privileged ? "all" : (c.securityContext?.capabilities?.add ?? []).join(", ") || "none",
  } as Record<string, string>;
}

function checkModeTable(heading: string, w: Any) {
  const facts = runtimeFacts(w);
  const t = table(heading);
  expect(t.length).toBeGreaterThan(0);
  for (const r of t) {
    const [name, seccomp, selinux, apparmor, why] = r;
    expect(facts[name as string], `${heading}: unknown row ${name}`).toBeDefined();
    for (const cell of [seccomp, selinux, apparmor])
      expect(cell, `${heading} / ${name}`).toBe(facts[name as string]);
    expect(why, `${heading} / ${name} needs a "stricter than SPO because" cell`).toMatch(/\S/);
  }
}

describe("docs/security-model.md agrees with the rendered manifests", () => {
  it("Running mode = the installer DaemonSet in both overlays", () => {
    for (const objs of Object.values(overlays)) {
      const inst = find(objs, "DaemonSet", "secprof-installer");
      expect(inst).toBeDefined();
      checkModeTable("Running mode", inst as Any);
    }
  });

  it("Profile generation mode = the recorder DaemonSet in the record overlay, absent in install-only", () => {
    checkModeTable(
      "Profile generation mode (auto-generating security profiles)",
      find(overlays.record, "DaemonSet", "secprof-recorder") as Any,
    );
    expect(find(overlays["install-only"], "DaemonSet", "secprof-recorder")).toBeUndefined();
    for (const n of ["secprof-merger", "secprof-webhook"])
      expect(find(overlays["install-only"], "Deployment", n)).toBeUndefined();
    expect(
      overlays["install-only"].some(
        (o) => o.kind === "ClusterRole" && (o.metadata as Any).name !== "secprof-installer",
      ),
    ).toBe(false);
  });

  it("Host paths table lists exactly the hostPath volumes and their access", () => {
    const actual = new Set<string>();
    for (const o of overlays.record) {
      const spec = (o as Any).spec?.template?.spec;
      if (!spec) continue;
      const comp = (o.metadata as Any).labels["app.kubernetes.io/component"];
      for (const v of spec.volumes ?? []) {
        if (!v.hostPath) continue;
        const mounts = [...(spec.initContainers ?? []), ...spec.containers]
          .flatMap((c: Any) => c.volumeMounts ?? [])
          .filter((m: Any) => m.name === v.name);
        expect(mounts.length, `${v.hostPath.path} unused`).toBeGreaterThan(0);
        const rw = mounts.some((m: Any) => m.readOnly !== true);
        actual.add(`${v.hostPath.path}|${comp}|${rw ? "read-write" : "read-only"}`);
      }
    }
    const documented = new Set(table("Host paths").map(([p, c, a]) => `${p}|${c}|${a}`));
    expect(documented).toEqual(actual);
  });

  it("Workloads table: non-root, read-only rootfs, capabilities, host paths", () => {
    const kinds = ["DaemonSet", "Deployment", "StatefulSet"];
    for (const [comp, kind, nonRoot, roFs, caps, hostPaths, why] of table("Workloads")) {
      const w = overlays.record.find(
        (o) => o.kind === kind && (o.metadata as Any).labels["app.kubernetes.io/component"] === comp,
      ) as Any;
      expect(w, `${comp} ${kind}`).toBeDefined();
      expect(kinds).toContain(kind);
      const f = runtimeFacts(w);
      expect(nonRoot, comp).toBe(yesNo(f["Requires root user"] === "No"));
      expect(roFs, comp).toBe(yesNo(mainContainer(w).securityContext?.readOnlyRootFilesystem === true));
      expect(caps === "all (privileged)" ? "all" : caps, comp).toBe(f.Capabilities);
      const n = (podSpec(w).volumes ?? []).filter((v: Any) => v.hostPath).length;
      expect(hostPaths, comp).toBe(n === 0 ? "none" : String(n));
      expect(why).toMatch(/\S/);
      if (kind === "Deployment") {
        const sc = mainContainer(w).securityContext;
        expect(sc).toMatchObject({
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
          seccompProfile: { type: "RuntimeDefault" },
        });
        expect(mainContainer(w).resources.limits.memory).toBeDefined();
        expect(mainContainer(w).livenessProbe.httpGet.path).toBe("/healthz");
        expect(mainContainer(w).readinessProbe.httpGet.path).toBe("/readyz");
      }
    }
  });

  it("RBAC table equals packages/core/src/rbac/table.ts", () => {
    const documented = table("Control plane RBAC").map((r) => r.join(" | "));
    const expected = API_CALLS.map(
      (c) =>
        `${c.component} | ${c.group === "" ? "core" : "spo"} | ${c.subresource ? `${c.resource}/${c.subresource}` : c.resource} | ${c.verbs.join(", ")} | ${c.scope}`,
    );
    expect(documented).toEqual(expected);
  });
});

const kubectl = (() => {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

// With CI=true a missing kubectl fails instead of skipping (scripts/test convention).
describe.skipIf(!kubectl && process.env.CI !== "true")(
  "kubectl kustomize renders what renderOverlay() models",
  () => {
    it.each(["record", "install-only"] as const)("deploy/overlays/%s", (overlay) => {
      const out = execFileSync(
        "kubectl",
        ["kustomize", fileURLToPath(new URL(`deploy/overlays/${overlay}`, root))],
        { encoding: "utf8" },
      );
      const key = (o: Any) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
      const rendered = new Map(
        parseAllDocuments(out)
          .map((d) => d.toJSON() as Any)
          .map((o) => [key(o), o]),
      );
      const modelled = new Map(renderOverlay(overlay).map((o) => [key(o as Any), o]));
      expect([...rendered.keys()].sort()).toEqual([...modelled.keys()].sort());
      for (const [k, o] of modelled) expect(rendered.get(k), k).toEqual(o);
    });
  },
);
