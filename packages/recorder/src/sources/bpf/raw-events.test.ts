import { describe, expect, it } from "vitest";
import { X32_BIT } from "./parse.js";
import { toRawSyscallEvent } from "./raw-events.js";

describe("toRawSyscallEvent", () => {
  const base = { type: "syscalls", mntns: 4026532177, count: 1 } as const;

  it("names the call on its own ABI and keeps the mount namespace", () => {
    expect(toRawSyscallEvent({ ...base, arch: "x86", nr: 64 }, 1_700_000_000_000)).toEqual({
      source: "bpf",
      ts: 1_700_000_000_000,
      auditId: null,
      pid: null,
      comm: null,
      exe: null,
      ses: null,
      mntns: 4026532177,
      kind: "syscall",
      arch: "x86",
      nr: 64,
      name: "getppid",
      action: null,
    });
    expect(toRawSyscallEvent({ ...base, arch: "x86_64", nr: 110 }, 0)?.name).toBe("getppid");
    expect(toRawSyscallEvent({ ...base, arch: "x32", nr: X32_BIT | 39 }, 0)?.name).toBe("getpid");
  });

  it("returns undefined for a number the ABI does not define", () => {
    expect(toRawSyscallEvent({ ...base, arch: "x86_64", nr: 1000 }, 0)).toBeUndefined();
  });
});
