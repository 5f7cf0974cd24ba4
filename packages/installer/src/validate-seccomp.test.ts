import { describe, expect, it } from "vitest";
import { validateSeccomp } from "./validate-seccomp.js";

const good = {
  defaultAction: "SCMP_ACT_ERRNO",
  architectures: ["SCMP_ARCH_X86_64"],
  syscalls: [{ names: ["read", "write", "exit_group"], action: "SCMP_ACT_ALLOW" }],
};
const check = (spec: unknown, opts = {}) => validateSeccomp(spec, { nativeArch: "x86_64", ...opts });
const errors = (spec: unknown, opts = {}) => {
  const r = check(spec, opts);
  return r.ok ? [] : r.errors;
};

describe("seccomp validation", () => {
  it("accepts a deny-by-default allow list of known syscalls", () => {
    expect(check(good)).toMatchObject({ ok: true });
  });

  it("rejects schema errors with their path", () => {
    expect(errors({ ...good, defaultAction: "SCMP_ACT_NOPE" })[0]).toMatch(/^schema: defaultAction/);
    expect(errors({ ...good, syscalls: [{ names: [], action: "SCMP_ACT_ALLOW" }] })[0]).toMatch(
      /syscalls\.0\.names/,
    );
    expect(errors({ ...good, syscalls: [{ names: ["READ;"], action: "SCMP_ACT_ALLOW" }] })[0]).toMatch(
      /schema/,
    );
    expect(errors("not an object")[0]).toMatch(/schema/);
  });

  it.each(["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_NOTIFY"])(
    "rejects default action %s (it does not deny)",
    (a) => {
      expect(
        errors({ ...good, defaultAction: a, syscalls: [{ names: ["read"], action: "SCMP_ACT_ERRNO" }] }),
      ).toContainEqual(expect.stringMatching(/lets calls through/));
    },
  );

  it.each([
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
  ])("accepts default action %s", (a) => {
    expect(check({ ...good, defaultAction: a }).ok).toBe(true);
  });

  it("rejects an empty allow list", () => {
    expect(errors({ ...good, syscalls: [] })).toContainEqual(expect.stringMatching(/allows no syscall/));
    expect(errors({ defaultAction: "SCMP_ACT_ERRNO", architectures: [] })).toContainEqual(
      expect.stringMatching(/allows no syscall/),
    );
    expect(errors({ ...good, syscalls: [{ names: ["read"], action: "SCMP_ACT_KILL" }] })).toContainEqual(
      expect.stringMatching(/allows no syscall/),
    );
  });

  it("rejects names unknown on every arch the filter applies to, per arch", () => {
    expect(
      errors({ ...good, syscalls: [{ names: ["read", "raed"], action: "SCMP_ACT_ALLOW" }] }),
    ).toContainEqual(expect.stringMatching(/unknown syscall name\(s\) on SCMP_ARCH_X86_64: raed/));
    // `open` does not exist on aarch64 but does on x86_64: fine in a two-arch profile...
    const multi = {
      ...good,
      architectures: ["SCMP_ARCH_AARCH64"],
      syscalls: [{ names: ["open"], action: "SCMP_ACT_ALLOW" }],
    };
    expect(check(multi).ok).toBe(true); // native x86_64 is always included
    // ...but not on an aarch64 node with an aarch64-only profile.
    expect(check(multi, { nativeArch: "aarch64" }).ok).toBe(false);
  });

  it("fails closed for arches without a syscall table, and warns when some are unchecked", () => {
    const mips = { ...good, architectures: ["SCMP_ARCH_MIPS"] };
    expect(validateSeccomp(mips, { nativeArch: null }).ok).toBe(false);
    const r = check(mips);
    expect(r.ok && r.warnings.join()).toMatch(/not checked for SCMP_ARCH_MIPS/);
  });

  it("rejects conflicting unconditional rules and an unresolved base profile", () => {
    expect(
      errors({
        ...good,
        syscalls: [
          { names: ["read"], action: "SCMP_ACT_ALLOW" },
          { names: ["read"], action: "SCMP_ACT_KILL" },
        ],
      }),
    ).toContainEqual(expect.stringMatching(/conflicting rules for read/));
    expect(errors({ ...good, baseProfileName: "runc-v1.2.0" })).toContainEqual(
      expect.stringMatching(/baseProfileName/),
    );
  });

  it("applies the cluster-wide allowed-syscalls policy (SPO semantics)", () => {
    const policy = { allowedSyscalls: ["read", "write"] };
    expect(errors(good, { policy })).toContainEqual(expect.stringMatching(/policy: not in .*exit_group/));
    expect(check({ ...good, syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }] }, { policy }).ok).toBe(
      true,
    );
    // Only actions the policy covers are restricted.
    const logOnly = { allowedSyscalls: ["read"], allowedActions: ["SCMP_ACT_LOG"] };
    expect(check(good, { policy: logOnly }).ok).toBe(true);
    // An empty list means no policy.
    expect(check(good, { policy: { allowedSyscalls: [] } }).ok).toBe(true);
  });

  it("warns about rules that repeat the default action", () => {
    const r = check({
      ...good,
      syscalls: [...good.syscalls, { names: ["ptrace"], action: "SCMP_ACT_ERRNO" }],
    });
    expect(r.ok && r.warnings.join()).toMatch(/repeats the default action/);
  });
});
