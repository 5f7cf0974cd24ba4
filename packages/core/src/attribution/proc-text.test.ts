import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseNsLink, parseStatPpid, parseStatStartTime, parseUptime } from "./proc-text.js";

/** A real /proc/<pid>/stat line (pid 1 on this VM) with `comm` replaced. */
function stat(comm: string, start = 24): string {
  return `1 (${comm}) S 0 0 0 0 -1 4194560 63986 3502233 0 1178 94 587 5347 4492 20 0 14 0 ${start} 48988160 3794 18446744073709551615 1 1 0 0 0 0 0 4096 1256 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n`;
}

describe("parseStatStartTime", () => {
  it.each([
    ["plain", "process_api"],
    ["spaces", "my prog 2"],
    ["parentheses", "a) b (c"],
    ["a fake stat inside comm", ") S 0 0 0 0 -1 1 1 1 1 1 1 1 1 1 20 0 1 0 999999"],
    ["empty", ""],
  ])("reads field 22 with %s in comm", (_n, comm) => {
    expect(parseStatStartTime(stat(comm, 123456789))).toBe(123456789);
  });

  it("reads the ppid the same way", () => {
    expect(parseStatPpid(stat("a) b"))).toBe(0);
  });

  it.each(["", "1 (x) S 0", "no parens at all", ") (", `1 (x) S ${"1 ".repeat(18)}notanumber`])(
    "returns undefined for %j",
    (t) => {
      expect(parseStatStartTime(t)).toBeUndefined();
    },
  );

  it("never throws", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const v = parseStatStartTime(s);
        expect(v === undefined || Number.isSafeInteger(v)).toBe(true);
        const c = parseStatStartTime(stat(s, 42));
        expect(c).toBe(42);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("parseNsLink / parseUptime", () => {
  it("reads the inode of a namespace link", () => {
    expect(parseNsLink("mnt:[4026531840]")).toBe(4026531840);
    expect(parseNsLink("net:[4026531840]")).toBeUndefined();
    expect(parseNsLink("net:[4026531840]", "net")).toBe(4026531840);
    expect(parseNsLink("mnt:4026531840")).toBeUndefined();
    expect(parseNsLink("")).toBeUndefined();
  });

  it("reads /proc/uptime", () => {
    expect(parseUptime("5347.12 4492.50\n")).toBe(5347.12);
    expect(parseUptime("x")).toBeUndefined();
  });

  it("never throws", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        parseNsLink(s);
        parseUptime(s);
        parseStatPpid(s);
      }),
    );
  });
});
