/**
 * Every manifest that `kubectl kustomize deploy/{base,overlays/record,overlays/install-only}`
 * renders, validated against the Kubernetes OpenAPI schemas with the `kubernetes-models`
 * validators (types, required fields, enums, formats such as quantities and int-or-string).
 * Unknown fields, which those schemas allow, are caught by k8s-shape.test.ts.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { type Obj, renderOverlay } from "./manifests.js";

// biome-ignore lint/suspicious/noExplicitAny: untyped parsed YAML
type Any = Record<string, any>;
type Model = new (data: unknown) => { validate(): void };
const root = new URL("../../../../", import.meta.url);

/** The kubernetes-models class of an object: `kubernetes-models/<group>/<version>` exports the kind. */
async function modelOf(o: Any): Promise<Model | undefined> {
  const mod = (await import(`kubernetes-models/${o.apiVersion}`)) as Record<string, Model | undefined>;
  return mod[o.kind];
}

/** The validator's complaint, or undefined when the object is valid. */
async function problems(o: Any): Promise<string | undefined> {
  const Model = await modelOf(o);
  if (Model === undefined) return `no model for ${o.apiVersion} ${o.kind}`;
  try {
    new Model(o).validate();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

const kubectl = (() => {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
const dirs = ["base", "overlays/record", "overlays/install-only"] as const;
const kustomize = (dir: string): Any[] =>
  parseAllDocuments(
    execFileSync("kubectl", ["kustomize", fileURLToPath(new URL(`deploy/${dir}`, root))], {
      encoding: "utf8",
    }),
  ).map((d) => d.toJSON() as Any);
const label = (o: Any) => `${o.kind} ${o.metadata?.name}`;

describe("manifests validate against the Kubernetes OpenAPI schemas (kubernetes-models)", () => {
  it.each(["record", "install-only"] as const)("renderOverlay(%s)", async (overlay) => {
    const objs = renderOverlay(overlay) as Any[];
    expect(objs.length).toBeGreaterThan(10);
    for (const o of objs) expect(await problems(o), label(o)).toBeUndefined();
  });

  // With CI=true a missing kubectl fails instead of skipping (scripts/test convention).
  describe.skipIf(!kubectl && process.env.CI !== "true")("kubectl kustomize output", () => {
    it.each(dirs)("deploy/%s", async (dir) => {
      const objs = kustomize(dir);
      expect(objs.length).toBeGreaterThan(10);
      for (const o of objs) expect(await problems(o), `${dir}: ${label(o)}`).toBeUndefined();
    });
  });

  it("the validators reject what the API server would (negative controls)", async () => {
    const objs = renderOverlay("record") as Any[];
    const pick = (kind: string, name: string) =>
      structuredClone(objs.find((o) => o.kind === kind && o.metadata.name === name)) as Obj as Any;

    const ds = pick("DaemonSet", "secprof-recorder");
    ds.spec.template.spec.containers[0].ports[0].containerPort = "9101";
    expect(await problems(ds)).toMatch(/containerPort must be integer/);

    const merger = pick("Deployment", "secprof-merger");
    merger.spec.template.spec.containers[0].resources.limits.memory = "lots";
    expect(await problems(merger)).toMatch(/memory/);

    const crd = pick("CustomResourceDefinition", "seccompprofiles.security-profiles-operator.x-k8s.io");
    delete crd.spec.scope;
    expect(await problems(crd)).toMatch(/scope/);

    const mwc = pick("MutatingWebhookConfiguration", "secprof-recording");
    delete mwc.webhooks[0].sideEffects;
    expect(await problems(mwc)).toMatch(/sideEffects/);
  });
});
