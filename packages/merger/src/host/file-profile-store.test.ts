import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { LABELS, type ProfileObject, type SeccompProfile } from "@secprof/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ProfileOwnershipError } from "../kube/profile-store.js";
import { FileProfileStore } from "./file-profile-store.js";

const profile = (
  name: string,
  ns: string,
  names: string[],
  extra: Record<string, string> = {},
): SeccompProfile => ({
  apiVersion: "security-profiles-operator.x-k8s.io/v1",
  kind: "SeccompProfile",
  metadata: {
    name,
    namespace: ns,
    labels: { [LABELS.recordingId]: "rec", [LABELS.recordingNamespace]: ns, ...extra },
  },
  spec: {
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [{ action: "SCMP_ACT_ALLOW", names }],
  },
});

/** The allowed syscall names of a stored seccomp profile. */
const namesOf = (p: ProfileObject | undefined) =>
  p?.kind === "SeccompProfile" ? p.spec.syscalls?.[0]?.names : undefined;

describe("FileProfileStore", () => {
  let dir: string;
  let store: FileProfileStore;
  let invalid: string[];

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "secprof-profiles-"));
    invalid = [];
    store = new FileProfileStore({ dir, onInvalid: (f) => invalid.push(path.basename(f)) });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("writes the CR YAML the installer reads (cluster-scoped: no namespace), replaces it, lists and deletes it", async () => {
    await store.put("shop", profile("rec-app", "shop", ["read"]));
    const file = path.join(dir, "rec-app.seccomp.yaml");
    const written = parse(readFileSync(file, "utf8")) as SeccompProfile;
    expect(written.kind).toBe("SeccompProfile");
    expect(written.metadata.namespace).toBeUndefined();
    expect(written.metadata.labels?.[LABELS.recordingNamespace]).toBe("shop");

    await store.put("shop", profile("rec-app", "shop", ["read", "write"]));
    expect(namesOf(await store.get("SeccompProfile", "shop", "rec-app"))).toEqual(["read", "write"]);
    // The temporary files of the atomic writes are gone; only the profile is left.
    expect(readdirSync(dir)).toEqual(["rec-app.seccomp.yaml"]);

    await store.put("shop", profile("rec-b", "shop", ["read"], { [LABELS.partial]: "true" }));
    await store.put("other", profile("x-app", "other", ["read"]));
    expect((await store.list("SeccompProfile", "shop")).map((p) => p.metadata.name)).toEqual([
      "rec-app",
      "rec-b",
    ]);
    expect(
      (await store.list("SeccompProfile", "shop", { [LABELS.partial]: "true" })).map((p) => p.metadata.name),
    ).toEqual(["rec-b"]);
    expect(await store.list("SeccompProfile", "")).toHaveLength(3);
    expect(await store.list("SelinuxProfile", "shop")).toEqual([]);

    await store.delete("SeccompProfile", "shop", "rec-b");
    await store.delete("SeccompProfile", "shop", "never-written");
    expect(readdirSync(dir).sort()).toEqual(["rec-app.seccomp.yaml", "x-app.seccomp.yaml"]);
  });

  it("keeps namespaces apart like cluster scope: another namespace's file is invisible and not overwritten", async () => {
    await store.put("other", profile("web-app", "other", ["read"]));
    expect(await store.get("SeccompProfile", "shop", "web-app")).toBeUndefined();
    await expect(store.put("shop", profile("web-app", "shop", ["write"]))).rejects.toBeInstanceOf(
      ProfileOwnershipError,
    );
    await expect(store.delete("SeccompProfile", "shop", "web-app")).rejects.toBeInstanceOf(
      ProfileOwnershipError,
    );
    expect(namesOf(await store.get("SeccompProfile", "other", "web-app"))).toEqual(["read"]);
  });

  it("serialises concurrent puts of one profile: the file always parses and holds one of them", async () => {
    const puts = Array.from({ length: 20 }, (_, i) =>
      store.put("shop", profile("rec-app", "shop", [`call${i}`])),
    );
    await Promise.all(puts);
    const p = await store.get("SeccompProfile", "shop", "rec-app");
    expect(namesOf(p)).toEqual(["call19"]);
    expect(readdirSync(dir)).toEqual(["rec-app.seccomp.yaml"]);
  });

  it("skips and counts files that are not YAML, fail the schema or are symlinks; ignores dotfiles and other names", async () => {
    await store.put("shop", profile("good", "shop", ["read"]));
    writeFileSync(path.join(dir, "torn.seccomp.yaml"), "kind: [\n");
    writeFileSync(path.join(dir, "wrong.seccomp.yaml"), "kind: SeccompProfile\nmetadata: {name: wrong}\n");
    symlinkSync(path.join(dir, "good.seccomp.yaml"), path.join(dir, "link.seccomp.yaml"));
    writeFileSync(path.join(dir, ".tmp.seccomp.yaml"), "garbage: [");
    writeFileSync(path.join(dir, "good.seccomp.json"), "{}");
    expect((await store.list("SeccompProfile", "")).map((p) => p.metadata.name)).toEqual(["good"]);
    expect(invalid.sort()).toEqual(["link.seccomp.yaml", "torn.seccomp.yaml", "wrong.seccomp.yaml"]);
    expect(store.invalidSeen).toBe(3);
    expect(() => store.fileOf("SeccompProfile", "../escape")).toThrow(/not a valid name/);
  });
});
