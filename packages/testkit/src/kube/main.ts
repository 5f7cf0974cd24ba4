/**
 * Runs the fake apiserver as its own process, for e2e tests that start daemons as processes:
 *
 *   vite-node packages/testkit/src/kube/main.ts -- [--port N] [--tls] [--user NAME ...] [--kubeconfig-dir DIR]
 *
 * Prints one JSON line {url, kubeconfigs} on stdout once listening (kubeconfigs maps each
 * --user to a kubeconfig file written into --kubeconfig-dir), then serves until SIGTERM/SIGINT.
 * Tests drive it further through the /_fake/* control endpoints (see control.ts).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startFakeApiServer } from "./server.js";

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    host: { type: "string" },
    port: { type: "string" },
    tls: { type: "boolean" },
    user: { type: "string", multiple: true },
    "kubeconfig-dir": { type: "string" },
  },
});

const api = await startFakeApiServer({
  ...(values.host ? { host: values.host } : {}),
  ...(values.port ? { port: Number(values.port) } : {}),
  ...(values.tls ? { tls: true } : {}),
});

const kubeconfigs: Record<string, string> = {};
const dir = values["kubeconfig-dir"];
if (dir) {
  await mkdir(dir, { recursive: true });
  for (const user of values.user ?? ["admin"]) {
    const file = join(dir, `${user.replaceAll(/[^A-Za-z0-9_.-]/g, "_")}.kubeconfig`);
    // exportConfig() is JSON, which every kubeconfig loader accepts as YAML.
    await writeFile(file, api.kubeConfig(user).exportConfig(), { mode: 0o600 });
    kubeconfigs[user] = file;
  }
}
process.stdout.write(`${JSON.stringify({ url: api.url, kubeconfigs })}\n`);

for (const sig of ["SIGTERM", "SIGINT"] as const)
  process.once(sig, () => {
    void api.close().then(() => process.exit(0));
  });
