import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SELINUX_RECORDING_TYPE } from "../recording/admission.js";
import type { AvcEvent } from "../schemas/events.js";
import type { SelinuxProfile, SelinuxSpec } from "../schemas/profiles.js";
import {
  type AvcTupleT,
  avcTupleFromEvent,
  contextType,
  mergeSelinuxSpecs,
  renderSelinuxCil,
  SelinuxPolicyError,
  selinuxAllowFromAvcs,
  selinuxDenyListViolations,
  selinuxProfileCR,
  selinuxProfileProblems,
} from "./selinux.js";

const REC = SELINUX_RECORDING_TYPE;
const tuple = (tcontextType: string, tclass: string, ...perms: string[]): AvcTupleT => ({
  scontextType: REC,
  tcontextType,
  tclass,
  perms,
});

const avc = (over: Partial<AvcEvent>): AvcEvent => ({
  source: "auditd",
  ts: null,
  auditId: null,
  pid: 1,
  comm: null,
  exe: null,
  ses: null,
  mntns: null,
  kind: "avc",
  denied: true,
  perms: ["read"],
  tclass: "file",
  scontext: `system_u:system_r:${REC}:s0:c1,c2`,
  tcontext: "system_u:object_r:etc_t:s0",
  permissive: true,
  userSpace: false,
  ...over,
});

describe("AVCs → allow map (spo.md §4.2)", () => {
  it("keys by class and the target type, sorts everything, writes @self for the recording type", () => {
    const { allow, ignored } = selinuxAllowFromAvcs([
      tuple("http_port_t", "tcp_socket", "name_bind"),
      tuple(REC, "tcp_socket", "listen", "create"),
      tuple(REC, "tcp_socket", "create", "accept"),
      tuple("etc_t", "file", "read", "open"),
      tuple("etc_t", "dir", "search"),
      { scontextType: "container_runtime_t", tcontextType: "etc_t", tclass: "file", perms: ["write"] },
    ]);
    expect(allow).toEqual({
      "@self": { tcp_socket: ["accept", "create", "listen"] },
      etc_t: { dir: ["search"], file: ["open", "read"] },
      http_port_t: { tcp_socket: ["name_bind"] },
    });
    expect(Object.keys(allow)).toEqual(["@self", "etc_t", "http_port_t"]);
    // An AVC of another domain (the runtime, attributed to the container) is not the workload's.
    expect(ignored).toBe(1);
    expect(selinuxAllowFromAvcs([tuple("a_t", "file", "read")], { sourceTypes: null }).ignored).toBe(0);
  });

  it("takes the type from whole contexts, and refuses contexts with fewer than three fields", () => {
    expect(contextType("system_u:object_r:etc_t:s0")).toBe("etc_t");
    expect(contextType("u:r:t")).toBe("t");
    expect(() => contextType("etc_t")).toThrow(SelinuxPolicyError);
    expect(() => contextType("u:r")).toThrow(/fewer than 3/);
    const { allow } = selinuxAllowFromAvcs([
      {
        scontextType: `system_u:system_r:${REC}:s0`,
        tcontextType: "system_u:object_r:tmp_t:s0",
        tclass: "file",
        perms: ["write"],
      },
    ]);
    expect(allow).toEqual({ tmp_t: { file: ["write"] } });
  });

  it("uses kernel AVC denials only: USER_AVC and granted records are not evidence", () => {
    expect(avcTupleFromEvent(avc({ perms: ["write", "read", "write"] }))).toEqual({
      scontextType: REC,
      tcontextType: "etc_t",
      tclass: "file",
      perms: ["read", "write"],
    });
    expect(avcTupleFromEvent(avc({ userSpace: true }))).toBeUndefined();
    expect(avcTupleFromEvent(avc({ denied: false }))).toBeUndefined();
    expect(() => avcTupleFromEvent(avc({ tcontext: "bogus" }))).toThrow(SelinuxPolicyError);
  });
});

describe("SPO's deny lists", () => {
  it("refuses denied types, classes and permissions, naming each entry", () => {
    const { allow } = selinuxAllowFromAvcs([
      tuple("shadow_t", "file", "read"),
      tuple(REC, "capability", "sys_admin"),
      tuple("etc_t", "file", "relabelto", "read"),
    ]);
    expect(selinuxDenyListViolations(allow)).toEqual([
      "class capability is on the deny list (allow[@self][capability])",
      "permission relabelto is on the deny list (allow[etc_t][file] relabelto)",
      "type shadow_t is on the deny list (allow[shadow_t])",
    ]);
    expect(() => selinuxProfileCR({ name: "x" }, allow)).toThrow(/type shadow_t is on the deny list/);
    expect(() => selinuxProfileCR({ name: "x" }, allow)).toThrow(SelinuxPolicyError);
  });

  it("honours SPO's denied/allowed overrides", () => {
    const allow = { shadow_t: { file: ["read"] } };
    expect(selinuxDenyListViolations(allow, { allowed: { types: ["shadow_t"] } })).toEqual([]);
    expect(
      selinuxDenyListViolations({ etc_t: { file: ["read"] } }, { denied: { types: ["etc_t"] } }),
    ).toHaveLength(1);
  });
});

const profile = (name: string, spec: Partial<SelinuxSpec> & Pick<SelinuxSpec, "allow">): SelinuxProfile => ({
  apiVersion: "security-profiles-operator.x-k8s.io/v1",
  kind: "SelinuxProfile",
  metadata: { name },
  spec: { inherit: [{ kind: "System", name: "container" }], mode: "Enforcing", ...spec },
});

describe("CIL (obj2cil, SPO's exact format)", () => {
  it("renders SPO's nginx example byte for byte", () => {
    const p = selinuxProfileCR(
      { name: "nginx-rec-nginx" },
      selinuxAllowFromAvcs([
        tuple(REC, "tcp_socket", "listen"),
        tuple("http_port_t", "tcp_socket", "name_bind"),
      ]).allow,
    );
    expect(p.spec).toEqual({
      inherit: [{ kind: "System", name: "container" }],
      mode: "Enforcing",
      allow: { "@self": { tcp_socket: ["listen"] }, http_port_t: { tcp_socket: ["name_bind"] } },
    });
    expect(renderSelinuxCil(p)).toBe(
      [
        "(block nginx-rec-nginx",
        "(blockinherit container)",
        "(allow process http_port_t ( tcp_socket ( name_bind )))",
        "(allow process nginx-rec-nginx.process ( tcp_socket ( listen )))",
        ")",
        "",
      ].join("\n"),
    );
  });

  it("Permissive mode, profile inherits (no container then), @self merged with its spelled-out name", () => {
    const cil = renderSelinuxCil(
      profile("child", {
        mode: "Permissive",
        inherit: [
          { kind: "System", name: "container" },
          { kind: "SelinuxProfile", name: "base-web" },
        ],
        allow: {
          "@self": { file: ["write", "read", "read"] },
          "child.process": { file: ["append"] },
          "base-web.process": { unix_stream_socket: ["connectto"] },
          empty_t: { file: [] },
        },
      }),
    );
    expect(cil).toBe(
      [
        "(block child",
        "(blockinherit base-web)",
        "(typepermissive process)",
        "(allow process base-web.process ( unix_stream_socket ( connectto )))",
        "(allow process child.process ( file ( append read write )))",
        ")",
        "",
      ].join("\n"),
    );
  });

  it.each([
    ["a dotted name (CIL namespace separator)", profile("web.rec", { allow: {} }), "cannot name a CIL block"],
    [
      "a paren in a type",
      profile("p", { allow: { "etc_t))(allow process shadow_t": { file: ["read"] } } }),
      "not a CIL type name",
    ],
    [
      "a space in a class",
      profile("p", { allow: { etc_t: { "file (": ["read"] } } }),
      "not a CIL identifier",
    ],
    [
      "a quote in a permission",
      profile("p", { allow: { etc_t: { file: ['read"'] } } }),
      "not a CIL identifier",
    ],
    [
      "a newline in a permission",
      profile("p", { allow: { etc_t: { file: ["read\n(typepermissive x)"] } } }),
      "not a CIL identifier",
    ],
    [
      "a global statement as a type",
      profile("p", { allow: { "(typeattributeset": { file: ["read"] } } }),
      "not a CIL type name",
    ],
    [
      "a System inherit off the allowed list",
      profile("p", { inherit: [{ kind: "System", name: "unconfined" }], allow: {} }),
      "not allowed",
    ],
    [
      "a hostile inherit",
      profile("p", { inherit: [{ kind: "SelinuxProfile", name: "x) (allow" }], allow: {} }),
      "not a CIL block name",
    ],
    [
      "inheriting itself",
      profile("p", { inherit: [{ kind: "SelinuxProfile", name: "p" }], allow: {} }),
      "cannot inherit itself",
    ],
    ["a denied type", profile("p", { allow: { kernel_t: { process: ["signal"] } } }), "deny list"],
  ])("refuses %s before rendering", (_what, p, message) => {
    expect(selinuxProfileProblems(p).join("\n")).toContain(message);
    expect(() => renderSelinuxCil(p)).toThrow(SelinuxPolicyError);
  });

  const hostile = fc.oneof(
    fc.string({ unit: "binary", maxLength: 20 }),
    fc
      .array(fc.constantFrom("a", "_t", "(", ")", " ", '"', ";", "\n", ".", "-", "@self", "x"), {
        maxLength: 8,
      })
      .map((t) => t.join("")),
  );
  const LINE =
    /^(?:\(block [A-Za-z][A-Za-z0-9_-]*|\(blockinherit [A-Za-z][A-Za-z0-9_-]*\)|\(typepermissive process\)|\(allow process [A-Za-z][A-Za-z0-9_.-]* \( [A-Za-z][A-Za-z0-9_]* \( [A-Za-z][A-Za-z0-9_]*(?: [A-Za-z][A-Za-z0-9_]*)* \)\)\)|\)|)$/;

  it("fuzz: any identifier is either refused or renders one well-formed block", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constant("fuzz"), hostile),
        fc.array(fc.tuple(hostile, hostile, fc.array(hostile, { maxLength: 3 })), { maxLength: 3 }),
        (name, rules) => {
          const allow: Record<string, Record<string, string[]>> = {};
          for (const [t, c, perms] of rules) {
            const classes = allow[t] ?? {};
            classes[c] = perms;
            allow[t] = classes;
          }
          const p = profile(name, { allow });
          let cil: string;
          try {
            cil = renderSelinuxCil(p);
          } catch (err) {
            expect(err).toBeInstanceOf(SelinuxPolicyError);
            return;
          }
          for (const line of cil.split("\n")) expect(line).toMatch(LINE);
          expect(cil.split("(").length).toBe(cil.split(")").length);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

const ident = fc.constantFrom("a_t", "b_t", "@self", "etc_t");
const cls = fc.constantFrom("file", "dir", "tcp_socket");
const perm = fc.constantFrom("read", "write", "open", "getattr", "name_bind");
const specArb: fc.Arbitrary<SelinuxSpec> = fc.record({
  inherit: fc.uniqueArray(
    fc.record({
      kind: fc.constantFrom<"System" | "SelinuxProfile">("System", "SelinuxProfile"),
      name: fc.constantFrom("container", "base-a", "base-b"),
    }),
    { selector: (i) => `${i.kind}/${i.name}`, maxLength: 2 },
  ),
  mode: fc.constantFrom<"Enforcing" | "Permissive">("Enforcing", "Enforcing", "Permissive"),
  allow: fc.dictionary(ident, fc.dictionary(cls, fc.uniqueArray(perm, { maxLength: 3 }), { maxKeys: 2 }), {
    maxKeys: 3,
  }),
});

describe("merge: type → class → permission union (spo.md §1.8)", () => {
  it("unions types, classes and permissions", () => {
    expect(
      mergeSelinuxSpecs([
        {
          inherit: [{ kind: "System", name: "container" }],
          mode: "Enforcing",
          allow: { etc_t: { file: ["read"] } },
        },
        {
          inherit: [{ kind: "System", name: "container" }],
          mode: "Enforcing",
          allow: { etc_t: { file: ["open"], dir: ["search"] }, "@self": { fifo_file: ["write"] } },
        },
      ]),
    ).toEqual({
      inherit: [{ kind: "System", name: "container" }],
      mode: "Enforcing",
      allow: { "@self": { fifo_file: ["write"] }, etc_t: { dir: ["search"], file: ["open", "read"] } },
    });
  });

  const merge = (...s: SelinuxSpec[]) => mergeSelinuxSpecs(s);
  it("is commutative, associative and idempotent", () => {
    fc.assert(
      fc.property(specArb, specArb, specArb, (a, b, c) => {
        expect(merge(a, b)).toEqual(merge(b, a));
        expect(merge(merge(a, b), c)).toEqual(merge(a, merge(b, c)));
        const m = merge(a, b);
        expect(merge(m, m)).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it("never loses an allowed operation", () => {
    fc.assert(
      fc.property(specArb, specArb, (a, b) => {
        const m = merge(a, b);
        for (const s of [a, b])
          for (const [t, classes] of Object.entries(s.allow))
            for (const [c, perms] of Object.entries(classes))
              for (const p of perms) expect(m.allow[t]?.[c]).toContain(p);
        if (a.mode === "Permissive" || b.mode === "Permissive") expect(m.mode).toBe("Permissive");
      }),
      { numRuns: 500 },
    );
  });
});
