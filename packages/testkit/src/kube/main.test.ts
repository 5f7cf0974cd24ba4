import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { expect, it } from "vitest";
import { z } from "zod";

const Started = z.object({ url: z.string(), kubeconfigs: z.record(z.string(), z.string()) });
const viteNode = createRequire(import.meta.url).resolve("vite-node/vite-node.mjs");
const entry = fileURLToPath(new URL("./main.ts", import.meta.url));

it("runs as a separate process that prints its URL and writes per-user kubeconfigs", async () => {
  const dir = await mkdtemp(join(tmpdir(), "fake-apiserver-main-"));
  const child = spawn(process.execPath, [viteNode, entry, "--", "--user", "agent", "--kubeconfig-dir", dir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`fake apiserver exited early (${code})`)));
    });
    const started = Started.parse(JSON.parse(line));
    const kc = new KubeConfig();
    kc.loadFromFile(started.kubeconfigs.agent ?? "");
    const namespaces = await kc.makeApiClient(CoreV1Api).listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toContain("default");

    // Control endpoints stand in for the in-process API.
    const post = (path: string, body: unknown) =>
      fetch(`${started.url}${path}`, { method: "POST", body: JSON.stringify(body) }).then((r) => r.json());
    await post("/_fake/kinds", {
      group: "secprof.io",
      version: "v1alpha1",
      kind: "Approval",
      plural: "approvals",
      namespaced: true,
    });
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: "secprof.io",
      version: "v1alpha1",
      namespace: "default",
      plural: "approvals",
      body: { metadata: { name: "ok" } },
    });
    const requests = z
      .array(z.object({ verb: z.string(), resource: z.string(), user: z.string() }))
      .parse(await fetch(`${started.url}/_fake/requests`).then((r) => r.json()));
    expect(requests.map((r) => `${r.user} ${r.verb} ${r.resource}`)).toEqual([
      "agent list namespaces",
      "agent create approvals",
    ]);
  } finally {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
}, 30_000);
