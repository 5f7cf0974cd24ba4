import { type FakeApiServer, startFakeApiServer } from "@secprof/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiFailure } from "./informer.js";
import { KubeRest } from "./rest.js";

const pod = (name: string, nodeName: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "shop" },
  spec: { nodeName, containers: [{ name: "app", image: "busybox" }] },
});

let api: FakeApiServer;
beforeAll(async () => {
  // HTTPS with a private CA and a bearer token: the kubeconfig's TLS and credentials must reach the call.
  api = await startFakeApiServer({ tls: true, namespaces: ["shop"] });
  api.put(pod("a", "node-a"));
  api.put(pod("b", "node-b"));
});
afterAll(() => api.close());

/** Runs `call` and returns what `apiFailure` reads from its rejection. */
async function failureOf(call: Promise<unknown>) {
  const err: unknown = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  return apiFailure(err);
}

describe("KubeRest", () => {
  it("lists with query parameters over TLS, as the kubeconfig's user", async () => {
    api.clearRequests();
    const rest = new KubeRest(api.kubeConfig("recorder"));
    const list = (await rest.get("/api/v1/pods", {
      fieldSelector: "spec.nodeName=node-a",
      limit: 100,
      continue: undefined,
    })) as { items: { metadata: { name: string } }[]; metadata: { resourceVersion: string } };
    expect(list.items.map((p) => p.metadata.name)).toEqual(["a"]);
    expect(Number(list.metadata.resourceVersion)).toBeGreaterThan(0);
    expect(api.requests.map((r) => [r.verb, r.resource, r.user, r.code])).toEqual([
      ["list", "pods", "recorder", 200],
    ]);
    expect(api.requests[0]?.path).not.toContain("continue");
  });

  it("creates with POST and replaces with PUT, JSON both ways (Dates as RFC 3339)", async () => {
    const rest = new KubeRest(api.kubeConfig("admin"));
    const when = new Date("2026-11-26T10:00:00Z");
    await rest.post("/api/v1/namespaces/shop/events", {
      metadata: { name: "e1", namespace: "shop" },
      involvedObject: { kind: "Pod", name: "a", namespace: "shop" },
      message: "hello",
      firstTimestamp: when,
    });
    const stored = api.get("v1", "Event", "e1", "shop") as { message?: string; firstTimestamp?: string };
    expect(stored.message).toBe("hello");
    expect(stored.firstTimestamp).toBe(when.toISOString());
    const current = (await rest.get("/api/v1/namespaces/shop/pods/a")) as {
      metadata: Record<string, unknown>;
    };
    const replaced = (await rest.put("/api/v1/namespaces/shop/pods/a", {
      ...current,
      metadata: { ...current.metadata, labels: { app: "web" } },
    })) as { metadata: { labels?: Record<string, string> } };
    expect(replaced.metadata.labels).toEqual({ app: "web" });
  });

  it("fails with the API's status, read by apiFailure: 404, 409 on a stale write", async () => {
    const rest = new KubeRest(api.kubeConfig("admin"));
    expect(await failureOf(rest.get("/api/v1/namespaces/shop/pods/missing"))).toMatchObject({
      code: 404,
      reason: "NotFound",
    });
    const stale = (await rest.get("/api/v1/namespaces/shop/pods/b")) as { metadata: Record<string, unknown> };
    await rest.put("/api/v1/namespaces/shop/pods/b", {
      ...stale,
      metadata: { ...stale.metadata, labels: { v: "2" } },
    });
    expect(await failureOf(rest.put("/api/v1/namespaces/shop/pods/b", stale))).toMatchObject({
      code: 409,
      reason: "Conflict",
    });
  });

  it("refuses a kubeconfig without a current cluster before any request", async () => {
    const kc = api.kubeConfig("admin");
    kc.setCurrentContext("nowhere");
    await expect(new KubeRest(kc).get("/api/v1/pods")).rejects.toThrow(/no current cluster/);
  });
});
