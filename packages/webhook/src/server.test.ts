import type { AddressInfo } from "node:net";
import { ProfileRecording } from "@secprof/core";
import { selfSignedCert } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { webhookServer } from "./server.js";

const tls = selfSignedCert();
const recording = ProfileRecording.parse({
  apiVersion: "security-profiles-operator.x-k8s.io/v1",
  kind: "ProfileRecording",
  metadata: { name: "web-rec", namespace: "shop" },
  spec: { kind: "SeccompProfile", recorder: "Logs", podSelector: { matchLabels: { app: "web" } } },
});
const mutated: string[][] = [];
const server = webhookServer(tls, {
  namespace: (ns) =>
    ns === "shop"
      ? { labels: { "spo.x-k8s.io/enable-recording": "true" }, recordings: [recording] }
      : undefined,
  onMutation: (_ns, recs) => mutated.push(recs),
});
let url = "";

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/mutate-v1-pod-recording`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function post(body: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", ca: tls.cert, headers: { "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => {
          text += d.toString();
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            text,
            json: text.startsWith("{") ? JSON.parse(text) : undefined,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(typeof body === "string" ? body : JSON.stringify(body));
  });
}

const reviewOf = (ns: string, labels: Record<string, string>, operation = "CREATE") => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid: "u-1",
    operation,
    namespace: ns,
    object: { metadata: { generateName: "web-", labels }, spec: { containers: [{ name: "nginx" }] } },
  },
});

describe("mutating webhook over HTTPS (AdmissionReview v1)", () => {
  it("patches a selected pod with the trace profile", async () => {
    const r = await post(reviewOf("shop", { app: "web" }));
    expect(r.status).toBe(200);
    const resp = (r.json as { response: { uid: string; allowed: boolean; patch: string; patchType: string } })
      .response;
    expect(resp).toMatchObject({ uid: "u-1", allowed: true, patchType: "JSONPatch" });
    const patch = JSON.parse(Buffer.from(resp.patch, "base64").toString()) as {
      path: string;
      value: unknown;
    }[];
    expect(patch.map((p) => p.path)).toEqual(["/metadata/annotations", "/spec/containers/0/securityContext"]);
    expect(mutated).toContainEqual(["web-rec"]);
  });
  it("allows unselected pods, other namespaces and deletions unchanged", async () => {
    for (const body of [
      reviewOf("shop", { app: "db" }),
      reviewOf("other", { app: "web" }),
      reviewOf("shop", { app: "web" }, "DELETE"),
    ]) {
      const r = await post(body);
      expect(r.json).toEqual({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: { uid: "u-1", allowed: true },
      });
    }
  });
  it("rejects what is not an AdmissionReview with a clear 400", async () => {
    expect((await post("{nope")).status).toBe(400);
    const r = await post({ kind: "Pod" });
    expect(r.status).toBe(400);
    expect(r.text).toContain("not an AdmissionReview v1");
  });
});
