import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Workspace packages resolve to their sources so tests never run against a stale build.
const pkgs = ["core", "daemon-kit", "recorder", "merger", "installer", "webhook", "cli", "testkit"];
const alias = Object.fromEntries(
  pkgs.map((p) => [`@secprof/${p}`, fileURLToPath(new URL(`./packages/${p}/src/index.ts`, import.meta.url))]),
);

const special = ["**/*.redis.test.ts", "**/*.root.test.ts", "e2e/**"];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts"],
          exclude: [...special, "**/node_modules/**"],
        },
      },
      { resolve: { alias }, test: { name: "redis", include: ["packages/*/src/**/*.redis.test.ts"] } },
      {
        resolve: { alias },
        test: {
          name: "root",
          include: ["packages/*/src/**/*.root.test.ts"],
          testTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        resolve: { alias },
        test: { name: "e2e", include: ["e2e/**/*.test.ts"], testTimeout: 300_000, fileParallelism: false },
      },
    ],
  },
});
