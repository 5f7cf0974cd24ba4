import {
  AppArmorProfile,
  LABELS,
  type ProfileObject,
  renderProfile,
  SelinuxPolicyError,
  SelinuxProfile,
  type TargetState,
} from "@secprof/core";
import { describe, expect, it } from "vitest";
import {
  appArmorProfileFor,
  INCOMPLETE_ANNOTATION,
  mergePartials,
  profileFor,
  selinuxProfileFor,
} from "./finalize.js";
import { contractTarget } from "./profile-state.contract.js";
import { avcMember } from "./state-model.js";

const zero = { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 };
const noFacts = { executables: [], readPaths: [], writePaths: [], capabilities: [], network: [] };

function state(
  kind: TargetState["target"]["kind"],
  replica: string,
  over: Partial<Pick<TargetState, "avc" | "apparmor" | "loss">> = {},
): TargetState {
  return {
    target: contractTarget("web", { kind, replica, profileName: `rec-web-${replica}` }),
    syscalls: {},
    avc: [],
    apparmor: noFacts,
    loss: { "node-1": zero },
    recorders: ["node-1"],
    firstAt: 1,
    lastAt: 2,
    ...over,
  };
}

const avc = (tcontextType: string, tclass: string, perms: string[]) =>
  avcMember({ scontextType: "selinuxrecording.process", tcontextType, tclass, perms });

describe("selinuxProfileFor", () => {
  it("turns the recording type's AVC tuples into SPO's SelinuxProfile and CIL (@self, sorted)", () => {
    const p = selinuxProfileFor(
      state("SelinuxProfile", "a", {
        avc: [
          avc("var_log_t", "file", ["write", "open"]),
          avc("selinuxrecording.process", "process", ["fork"]),
          // Another source type (the runtime): not the workload's.
          avcMember({
            scontextType: "container_runtime_t",
            tcontextType: "etc_t",
            tclass: "file",
            perms: ["read"],
          }),
          "not json",
        ],
      }),
    );
    expect(SelinuxProfile.parse(p)).toEqual(p);
    expect(p.metadata.name).toBe("rec-web-a");
    expect(p.metadata.labels?.[LABELS.recordingId]).toBe("rec");
    expect(p.spec.allow).toEqual({ "@self": { process: ["fork"] }, var_log_t: { file: ["open", "write"] } });
    const cil = renderProfile(p).files[0]?.content ?? "";
    expect(cil).toContain("(block rec-web-a");
    expect(cil).toContain("(blockinherit container)");
    expect(cil).toContain("(allow process var_log_t ( file ( open write )))");
    expect(cil).toContain("(allow process rec-web-a.process ( process ( fork )))");
  });

  it("refuses an allow map on SPO's deny lists", () => {
    expect(() =>
      selinuxProfileFor(state("SelinuxProfile", "a", { avc: [avc("shadow_t", "file", ["read"])] })),
    ).toThrow(SelinuxPolicyError);
  });
});

describe("appArmorProfileFor", () => {
  it("builds SPO's AppArmorProfile from the facts (libraries kept) and renders its text", () => {
    const p = appArmorProfileFor(
      state("AppArmorProfile", "a", {
        apparmor: {
          executables: ["/usr/bin/python3.11"],
          libraries: ["/opt/app/native.so"],
          readPaths: ["/srv/www/index.html"],
          writePaths: ["/tmp/www/log.txt"],
          capabilities: ["net_bind_service"],
          network: ["tcp"],
        },
        loss: { "node-1": { ...zero, truncated: 3 } },
      }),
      { partial: true },
    );
    expect(AppArmorProfile.parse(p)).toEqual(p);
    expect(p.metadata.labels?.[LABELS.partial]).toBe("true");
    expect(p.metadata.annotations?.[INCOMPLETE_ANNOTATION]).toContain('"truncated":3');
    expect(p.spec.abstract.executable?.allowedExecutables).toEqual(["/usr/bin/python3.11"]);
    expect(p.spec.abstract.executable?.allowedLibraries).toEqual(["/opt/app/native.so"]);
    expect(p.spec.abstract.filesystem?.readOnlyPaths).toEqual(["/srv/www/index.html"]);
    expect(p.spec.abstract.network?.allowedProtocols?.allowTcp).toBe(true);
    expect(p.spec.abstract.capability?.allowedCapabilities).toEqual(["net_bind_service"]);
    const text = renderProfile(p).files[0]?.content ?? "";
    expect(text).toContain("/srv/www/index.html r");
    expect(text).toContain("network tcp,");
    expect(text).toContain("/opt/app/native.so mr,");
  });
});

describe("profileFor / mergePartials", () => {
  it("builds each target's kind, and merges partials per kind and container", () => {
    const partials: ProfileObject[] = [
      profileFor(state("AppArmorProfile", "a", { apparmor: { ...noFacts, readPaths: ["/srv/a"] } }), {
        partial: true,
      }),
      profileFor(
        state("AppArmorProfile", "b", {
          apparmor: { ...noFacts, readPaths: ["/srv/b"] },
          loss: { "node-1": { ...zero, kernelLost: 1 } },
        }),
        { partial: true },
      ),
      profileFor(state("SelinuxProfile", "a", { avc: [avc("var_t", "dir", ["search"])] }), { partial: true }),
      profileFor(state("SelinuxProfile", "b", { avc: [avc("var_t", "dir", ["read"])] }), { partial: true }),
    ];
    expect(partials.map((p) => p.kind)).toEqual([
      "AppArmorProfile",
      "AppArmorProfile",
      "SelinuxProfile",
      "SelinuxProfile",
    ]);
    const merged = mergePartials([...partials].reverse());
    expect(merged.map((p) => [p.kind, p.metadata.name])).toEqual([
      ["AppArmorProfile", "rec-web"],
      ["SelinuxProfile", "rec-web"],
    ]);
    const [aa, se] = merged;
    if (aa?.kind !== "AppArmorProfile" || se?.kind !== "SelinuxProfile") throw new Error("kinds");
    expect(aa.spec.abstract.filesystem?.readOnlyPaths).toEqual(["/srv/a", "/srv/b"]);
    expect(aa.metadata.labels).toEqual({ [LABELS.recordingId]: "rec", [LABELS.recordingNamespace]: "shop" });
    expect(aa.metadata.annotations?.[INCOMPLETE_ANNOTATION]).toContain('"kernelLost":1');
    expect(se.spec.allow).toEqual({ var_t: { dir: ["read", "search"] } });
    expect(se.metadata.annotations).toBeUndefined();
    // Order of the partials does not matter.
    expect(mergePartials(partials)).toEqual(merged);
  });
});
