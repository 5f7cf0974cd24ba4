// One ESM bundle per daemon entry (packages/<pkg>/dist/bundled/<entry>.mjs), built from the tsc
// output. Why: importing @kubernetes/client-node from its package loads every generated model and
// API (~72 MiB RSS over bare node); a bundle holds only what the daemon reaches (~60-67 MiB in
// all), and one file starts faster than thousands of modules.
//
// Files a module loads at run time by `new URL("<relative>", import.meta.url)` (bpftrace programs,
// the CO-RE loader directory, the SELinux policy CIL files, the log launcher) would resolve
// against the bundle instead of the module: each such URL is rewritten to
// `./assets/<path under packages/>` and the file or directory is copied there, so a bundle
// directory runs on its own (the image copies only dist/). A directory that does not exist at
// build time (the CO-RE objects when not built) is rewritten all the same: the code already
// checks for it at run time.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { build } from "esbuild";

const root = path.resolve(import.meta.dirname, "..");
const packages = path.join(root, "packages");

/** pkg → entries (dist/<entry>.js). */
const ENTRIES = {
  recorder: ["main"],
  merger: ["main"],
  webhook: ["main"],
  installer: ["main", "init-main", "apply-main"],
  cli: ["main"],
};

/** Bundles whose whitespace is dropped (see `minifyWhitespace` below). */
const WHITESPACE_ONLY_MINIFIED = new Set(["recorder"]);

const ASSET_URL = /new URL\((["'])(\.{1,2}\/[^"']*|[^"':/]+\.[a-z]+)\1, import\.meta\.url\)/g;

/** esbuild plugin: rewrites asset URLs of our own compiled modules, collecting what to copy. */
function assetUrls(assets) {
  return {
    name: "secprof-asset-urls",
    setup(b) {
      b.onLoad({ filter: /[\\/]packages[\\/][^\\/]+[\\/]dist[\\/].*\.js$/ }, (args) => {
        const source = readFileSync(args.path, "utf8");
        if (!source.includes("import.meta.url")) return undefined;
        const contents = source.replace(ASSET_URL, (_m, q, rel) => {
          const target = path.resolve(path.dirname(args.path), rel);
          const under = path.relative(packages, target);
          if (under.startsWith("..")) throw new Error(`${args.path}: asset outside packages/: ${rel}`);
          const dir = rel.endsWith("/") ? "/" : "";
          assets.set(target, under);
          return `new URL(${q}./assets/${under.split(path.sep).join("/")}${dir}${q}, import.meta.url)`;
        });
        return { contents, loader: "js" };
      });
    },
  };
}

for (const [pkg, entries] of Object.entries(ENTRIES)) {
  const outdir = path.join(packages, pkg, "dist", "bundled");
  rmSync(outdir, { recursive: true, force: true });
  const assets = new Map();
  await build({
    entryPoints: Object.fromEntries(entries.map((e) => [e, path.join(packages, pkg, "dist", `${e}.js`)])),
    outdir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // No code splitting: every bundle is one file, so the asset URLs above (relative to it) hold.
    // CommonJS dependencies call require(); an ESM bundle has none of its own.
    banner: {
      js: 'import { createRequire as __secprofRequire } from "node:module"; const require = __secprofRequire(import.meta.url);',
    },
    // Optional native accelerators (ws, msgpackr) are loaded in try/catch and not installed in the image.
    external: ["bufferutil", "utf-8-validate", "msgpackr-extract"],
    // V8 keeps a script's source for lazy compilation: one non-ASCII character (in a comment)
    // makes it a two-byte string, 15 MiB for the recorder's 7.7 MB; ASCII-only (below for what
    // esbuild leaves), one byte per character. Not minified: a minified build (whitespace +
    // syntax, names kept) failed e2e/cluster-recording's pod-end scenarios twice; not debugged.
    // The recorder (a pod on every node) drops whitespace only, which changes no code: its source
    // string goes from 7.5 to 4.3 MiB of heap (bench/cluster-node).
    charset: "ascii",
    minifyWhitespace: WHITESPACE_ONLY_MINIFIED.has(pkg),
    sourcemap: "linked",
    logLevel: "warning",
    legalComments: "none",
    plugins: [assetUrls(assets)],
  });
  // esbuild leaves non-ASCII in regular expression literals (a `/〇/` feature test in a dependency):
  // escaped here, same meaning in a string or a regular expression, so the source stays one-byte.
  for (const file of readdirSync(outdir, { recursive: true })) {
    if (!String(file).endsWith(".mjs")) continue;
    const at = path.join(outdir, String(file));
    const code = readFileSync(at, "utf8");
    const ascii = code.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
    if (ascii !== code) writeFileSync(at, ascii);
  }
  for (const [from, under] of assets) {
    if (!existsSync(from)) continue;
    const to = path.join(outdir, "assets", under);
    mkdirSync(path.dirname(to), { recursive: true });
    cpSync(from, to, { recursive: true });
  }
  // Every asset that existed must be found from the file that names it, as node will resolve it.
  for (const file of readdirSync(outdir)) {
    if (!file.endsWith(".mjs")) continue;
    const code = readFileSync(path.join(outdir, file), "utf8");
    for (const [, rel] of code.matchAll(/new URL\("(\.\/assets\/[^"]*)", import\.meta\.url\)/g)) {
      const source = [...assets].find(([, under]) =>
        rel.startsWith(`./assets/${under.split(path.sep).join("/")}`),
      );
      if (source !== undefined && existsSync(source[0]) && !existsSync(path.join(outdir, rel)))
        throw new Error(`${pkg}/${file}: ${rel} does not resolve beside the bundle`);
    }
  }
}
