import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import {
  appArmorProfileCR,
  LABELS,
  type ProfileObject,
  type ProfileRecording,
  type ProfileStore,
  renderProfile,
  selinuxProfileCR,
  verifyBundle,
} from "@secprof/core";
import { describe, expect, it } from "vitest";
import { MemoryProfileState } from "../memory-state.js";
import { MergerRecordingSource } from "./recording-source.js";

const labels = { [LABELS.recordingId]: "rec", [LABELS.recordingNamespace]: "shop" };

/** Holds whatever it is given; `list` filters on kind only (enough here). */
class Store implements ProfileStore {
  constructor(readonly objects: ProfileObject[]) {}
  async put(_ns: string, p: ProfileObject): Promise<ProfileObject> {
    return p;
  }
  async get(): Promise<ProfileObject | undefined> {
    return undefined;
  }
  async list(kind: ProfileObject["kind"]): Promise<ProfileObject[]> {
    return this.objects.filter((p) => p.kind === kind);
  }
  async delete(): Promise<void> {}
}

const sha = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");

describe("MergerRecordingSource.bundle", () => {
  it("carries each SelinuxProfile's CIL and AppArmorProfile's text next to its CR", async () => {
    const se = selinuxProfileCR({ name: "rec-db", labels }, { var_lib_t: { dir: ["search"] } });
    const aa = appArmorProfileCR(
      { name: "rec-web", labels },
      { filesystem: { readOnlyPaths: ["/srv/www/**"] }, network: { allowedProtocols: { allowTcp: true } } },
    );
    // Edited in the API into something no renderer accepts: its CR is kept, its host file left out.
    const bad = selinuxProfileCR({ name: "rec-bad", labels }, { "x)(allow": { file: ["read"] } });
    const left: string[] = [];
    const source = new MergerRecordingSource({
      state: new MemoryProfileState(),
      store: new Store([se, aa, bad]),
      recordings: () => [],
      recording: () => ({ spec: { recorder: "Bpf" } }) as ProfileRecording,
      onUnrenderable: (p) => left.push(p.metadata.name),
    });
    const bytes = await source.bundle("shop", "rec");
    if (bytes === undefined) throw new Error("no bundle");
    const v = verifyBundle(gunzipSync(bytes), sha);
    expect([...v.files.keys()].sort()).toEqual([
      "rec-bad.selinux.yaml",
      "rec-db.cil",
      "rec-db.selinux.yaml",
      "rec-web.apparmor",
      "rec-web.apparmor.yaml",
    ]);
    const text = (p: string) => Buffer.from(v.files.get(p) ?? []).toString();
    expect(text("rec-db.cil")).toBe(renderProfile(se).files[0]?.content);
    expect(text("rec-web.apparmor")).toBe(renderProfile(aa).files[0]?.content);
    expect(v.manifest.files.find((f) => f.path === "rec-db.cil")?.format).toBe("selinux-cil");
    expect(v.manifest.files.find((f) => f.path === "rec-web.apparmor")?.format).toBe("apparmor-text");
    expect(left).toEqual(["rec-bad"]);
  });
});
