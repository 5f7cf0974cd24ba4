// tsc copies no non-TypeScript files: bring the bpftrace programs next to the compiled modules
// that load them by `new URL("./x.bt", import.meta.url)`.
import { cpSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
for (const pkg of readdirSync(path.join(root, "packages"))) {
  const src = path.join(root, "packages", pkg, "src");
  let entries;
  try {
    entries = readdirSync(src, { recursive: true });
  } catch {
    continue;
  }
  for (const rel of entries) {
    if (!String(rel).endsWith(".bt")) continue;
    const to = path.join(root, "packages", pkg, "dist", String(rel));
    mkdirSync(path.dirname(to), { recursive: true });
    cpSync(path.join(src, String(rel)), to);
  }
}
