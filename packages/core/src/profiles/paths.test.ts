import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  appArmorPathProblem,
  collapseReadWrite,
  normalizeRecordedPath,
  overlappingAny,
  PatternTooComplex,
  patternCovers,
  patternMatches,
  patternsOverlap,
  recordedPathPattern,
  renderAppArmorPath,
  sanitizeRecordedPath,
  strictCoverers,
} from "./paths.js";

describe("recorded paths → patterns (SPO's normalisation, spo.md §3.6)", () => {
  it.each([
    ["/proc/1234/status", "/proc/@{pid}/status"],
    ["/proc/1234/task/5678/stat", "/proc/@{pid}/task/@{tid}/stat"],
    ["/1234/status", "/@{pid}/status"],
    ["/1234/task/77/comm", "/@{pid}/task/@{tid}/comm"],
    ["/proc/self/status", "/proc/self/status"],
    [
      "/var/lib/containers/storage/overlay/3f2a9c/merged/etc/hosts",
      "/var/lib/containers/storage/overlay/*/merged/etc/hosts",
    ],
    ["/tmp/550e8400-e29b-41d4-a716-446655440000.lock", "/tmp/*.lock"],
    ["/run/containerd/0123456789abcdef0123456789abcdef01/log", "/run/containerd/*/log"],
    ["/var/log/app-20240101123000.log", "/var/log/app-*.log"],
    ["/data/12345", "/data/12345"],
    ["/sys/devices/pci0000:00/0000:00:1f.2/ata1/host0", "/sys/devices/**"],
    ["/sys/devices/", "/sys/devices/"],
    // Only numbers @{pid} matches become @{pid}: no leading zero, below 5000000.
    ["/proc/0123/x", "/proc/0123/x"],
    ["/proc/99999999/x", "/proc/*/x"],
  ])("%s → %s", (raw, pattern) => {
    expect(recordedPathPattern(raw)).toBe(pattern);
  });

  it("never merges adjacent replacements into ** (which would cross /)", () => {
    expect(recordedPathPattern("/x/550e8400-e29b-41d4-a716-4466554400001234567")).toBe("/x/*");
    expect(normalizeRecordedPath("/x/*1234567")).toBe("/x/*");
  });

  it("turns rule-breaking characters into wildcards that still match the file", () => {
    expect(sanitizeRecordedPath('/tmp/a,b"c\n  /etc/shadow rw,')).toBe("/tmp/a?b?c?  /etc/shadow rw?");
    expect(sanitizeRecordedPath("/srv/d\u00e9j\u00e0 vu/\u{1F600}.txt")).toBe("/srv/d*j* vu/*.txt");
    expect(sanitizeRecordedPath("/x/@{pid}/*")).toBe("/x/??pid?/?");
  });

  it("refuses paths that are not evidence: relative, . or .. components, too long", () => {
    for (const p of ["tmp/x", "", "/a/../etc/shadow", "/a/./b", `/${"a".repeat(4096)}`])
      expect(recordedPathPattern(p)).toBeUndefined();
  });

  const rawPath = fc
    .array(
      fc.oneof(
        fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes("/")),
        fc.constantFrom("proc", "1234", "task", "0", "550e8400-e29b-41d4-a716-446655440000", "a".repeat(40)),
        fc.nat({ max: 99_999_999 }).map(String),
      ),
      { minLength: 1, maxLength: 6 },
    )
    .map((segs) => `/${segs.join("/")}`);

  it("property: every usable recorded path gives a renderable pattern that matches it", () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        const p = recordedPathPattern(raw);
        if (p === undefined) return;
        expect(appArmorPathProblem(p)).toBeUndefined();
        // The model matches byte strings; the property holds for any path the kernel reports.
        if (/^[\x20-\x7e]*$/.test(raw)) expect(patternMatches(p, raw)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  }, 60_000);

  it("property: normalisation is idempotent", () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        const p = recordedPathPattern(raw);
        if (p !== undefined) expect(normalizeRecordedPath(p)).toBe(p);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("read-write collapsing", () => {
  it("collapses two entries of one directory into <dir>/*, as SPO does", () => {
    expect(collapseReadWrite(["/var/cache/nginx/a", "/var/cache/nginx/b", "/srv/x"])).toEqual([
      "/srv/x",
      "/var/cache/nginx/*",
    ]);
  });

  it("never generalises system directories (unlike SPO): /dev/null + /dev/tty is not /dev/*", () => {
    const kept = [
      "/dev/null",
      "/dev/tty",
      "/etc/a",
      "/etc/b",
      "/proc/@{pid}/a",
      "/proc/@{pid}/b",
      "/a",
      "/b",
    ];
    expect(collapseReadWrite(kept)).toEqual([...kept].sort());
    expect(collapseReadWrite(["/dev/shm/a", "/dev/shm/b"])).toEqual(["/dev/shm/*"]);
  });
});

describe("validation of rendered paths", () => {
  it.each([
    ["/usr/bin/nginx", undefined],
    ["/proc/@{pid}/status", undefined],
    ["@{PROC}/sys/kernel/x", "not absolute"],
    ["/My Documents/test file", undefined],
    ["/opt/my-app/v1.2+3/run_app", undefined],
    ["/var/log/**", undefined],
    ["usr/bin/nginx", "not absolute"],
    ['/usr/bin/nginx" r,', 'contains "\\""'],
    ["/usr/bin/nginx, /etc/shadow", 'contains ","'],
    ["/x\n  /** rwx", 'contains "\\n"'],
    ["/usr/bin/$(whoami)", 'contains "$"'],
    ["/a/../etc/shadow", '".." component'],
    ["/etc/{shadow,passwd}", 'contains ","'],
    ["/etc/{shadow}", '"@", "{" or "}"'],
    ["/@{HOME}/.ssh", '"@", "{" or "}"'],
    ["/x/[a-z]", 'contains "["'],
    ["/x\\y", 'contains "\\\\"'],
    ["/x#y", 'contains "#"'],
    ["", "is empty"],
  ])("%j → %s", (path, problem) => {
    const why = appArmorPathProblem(path);
    if (problem === undefined) expect(why).toBeUndefined();
    else expect(why).toContain(problem);
  });

  it("quotes paths with spaces (SPO)", () => {
    expect(renderAppArmorPath("/My Documents/x")).toBe('"/My Documents/x"');
    expect(renderAppArmorPath("/etc/x")).toBe("/etc/x");
  });
});

/** An independent reference: the pattern as a JS regular expression (same rules, other code). */
function referenceRegex(pattern: string): RegExp {
  const PID = "(?:[1-9][0-9]{0,5}|[1-4][0-9]{6})";
  let re = "";
  let afterSlash = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? "";
    if (c === "*") {
      const dbl = pattern[i + 1] === "*";
      while (pattern[i + 1] === "*") i++;
      re += afterSlash ? (dbl ? "[^/].*" : "[^/][^/]*") : dbl ? ".*" : "[^/]*";
      afterSlash = false;
    } else if (c === "?") {
      re += "[^/]";
      afterSlash = false;
    } else if (pattern.startsWith("@{pid}", i)) {
      re += PID;
      i += 5;
      afterSlash = false;
    } else if (c === "/") {
      if (!afterSlash) re += "/";
      afterSlash = true;
    } else {
      re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
      afterSlash = false;
    }
  }
  return new RegExp(`^${re}$`);
}

const ALPHABET = ["a", "b", "/", "1", "0"];
function* strings(maxLen: number): Generator<string> {
  yield "";
  let layer = [""];
  for (let n = 1; n <= maxLen; n++) {
    const next: string[] = [];
    for (const s of layer) for (const c of ALPHABET) next.push(s + c);
    yield* next;
    layer = next;
  }
}
const ALL = [...strings(5)];

const pattern = fc
  .array(fc.constantFrom("a", "b", "/", "1", "*", "**", "?", "@{pid}"), { minLength: 1, maxLength: 6 })
  .map((t) => `/${t.join("")}`);

/** Runs a check; a pattern past the comparison budget takes the case out of the property. */
function decided(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (!(err instanceof PatternTooComplex)) throw err;
    fc.pre(false);
  }
}

describe("the glob model", () => {
  it("agrees with an independent regular-expression reference on every short string", () => {
    fc.assert(
      fc.property(pattern, (p) => {
        const re = referenceRegex(p);
        const wrong = ALL.filter((s) => !s.includes("//") && patternMatches(p, s) !== re.test(s));
        expect(wrong).toEqual([]);
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it("decides covers and overlaps exactly (checked by enumerating strings)", () => {
    fc.assert(
      fc.property(pattern, pattern, (p, q) =>
        decided(() => {
          const rp = referenceRegex(p);
          const rq = referenceRegex(q);
          const strs = ALL.filter((s) => !s.includes("//"));
          // Any counterexample to "q covers p" of at most 5 characters is found by enumeration.
          const counter = strs.find((s) => rp.test(s) && !rq.test(s));
          if (counter !== undefined) expect(patternCovers(q, p)).toBe(false);
          if (patternCovers(q, p)) expect(strs.filter((s) => rp.test(s) && !rq.test(s))).toEqual([]);
          const shared = strs.some((s) => rp.test(s) && rq.test(s));
          if (shared) expect(patternsOverlap(p, q)).toBe(true);
          expect(patternsOverlap(p, q)).toBe(patternsOverlap(q, p));
        }),
      ),
      { numRuns: 300 },
    );
  }, 60_000);

  it("covers is reflexive and transitive; covering implies overlapping", () => {
    fc.assert(
      fc.property(pattern, pattern, pattern, (a, b, c) =>
        decided(() => {
          expect(patternCovers(a, a)).toBe(true);
          if (patternCovers(a, b) && patternCovers(b, c)) expect(patternCovers(a, c)).toBe(true);
          if (patternCovers(a, b)) expect(patternsOverlap(a, b)).toBe(true);
        }),
      ),
      { numRuns: 300 },
    );
  }, 60_000);

  it.each([
    ["/a/*", "/a/b", true],
    ["/a/*", "/a/", false],
    ["/a/*", "/a/b/c", false],
    ["/a/**", "/a/*", true],
    ["/a/*", "/a/**", false],
    ["/proc/*", "/proc/@{pid}", true],
    ["/proc/@{pid}", "/proc/*", false],
    ["@{PROC}/x", "/proc/x", true],
    ["/a//b", "/a/b", true],
    ["/a/*?", "/a/??", true],
    ["/a/?", "/a/*", false],
  ])("%s covers %s: %s", (q, p, want) => {
    expect(patternCovers(q, p)).toBe(want);
  });

  it.each([
    ["/@{pid}", "/4999999", true],
    ["/@{pid}", "/5000000", false],
    ["/@{pid}", "/999999", true],
    ["/@{pid}", "/0", false],
    ["/@{pid}", "/07", false],
    ["/@{pid}", "/12345678", false],
    ["/@{uid}", "/0", true],
    ["/@{uid}", "/00", false],
    ["/@{uid}", "/4999999999", true],
    ["/@{uid}", "/5000000000", false],
    ["/@{pid}@{pid}", "/5000001", true],
    ["/@{pid}@{pid}", "/49999995", true],
    ["/@{pid}@{pid}", "/50000001", false],
    ["/@{pid}@{pid}", "/10", false],
  ])("%s matches %s: %s", (pattern, path, want) => {
    expect(patternMatches(pattern, path)).toBe(want);
  });

  it("property: runs of number variables match long digit strings as the reference does", () => {
    const numeric = fc
      .array(fc.constantFrom("@{pid}", "1", "0", "5", "*"), { minLength: 1, maxLength: 4 })
      .map((t) => `/${t.join("")}`);
    const digits = fc.stringMatching(/^[0-9]{1,16}$/);
    fc.assert(
      fc.property(numeric, digits, (p, d) => {
        expect(patternMatches(p, `/${d}`)).toBe(referenceRegex(p).test(`/${d}`));
      }),
      { numRuns: 2000 },
    );
  });

  it("decides number-variable runs without determinising the covered side (the CI counterexample)", () => {
    const runs = "/@{pid}@{pid}1@{pid}@{pid}";
    expect(patternCovers("/**", runs)).toBe(true);
    expect(patternCovers("/**", "/@{pid}@{pid}@{pid}@{pid}/@{pid}@{pid}@{pid}@{pid}")).toBe(true);
    expect(patternCovers(runs, "/a")).toBe(false);
    expect(patternCovers("/@{pid}@{pid}@{pid}@{pid}", "/**")).toBe(false);
    expect(patternsOverlap(runs, "/*5")).toBe(true);
    expect(patternsOverlap(runs, "/*a")).toBe(false);
  });

  it("refuses a covering pattern past the budget by name; merging then keeps both rules", () => {
    const six = `/${"@{pid}".repeat(6)}`;
    const seven = `/${"@{pid}".repeat(7)}`;
    expect(() => patternCovers(six, seven)).toThrow(PatternTooComplex);
    expect(() => patternCovers(six, seven)).toThrow(/too complex to compare/);
    // Matching one path still works once the automaton is full.
    expect(patternMatches(six, `/${"1".repeat(42)}`)).toBe(true);
    expect(patternMatches(six, `/${"1".repeat(43)}`)).toBe(false);
    const cov = strictCoverers([six, seven, "/**"]);
    expect(cov.get(six)).toEqual(["/**"]);
    expect(cov.get(seven)).toEqual(["/**"]);
  });

  it("strictCoverers: globs over literals, equivalent spellings ordered by string", () => {
    const cov = strictCoverers(["/a/*", "/a/b", "/a/**", "/a//b", "/x"]);
    expect(cov.get("/a/b")?.sort()).toEqual(["/a/*", "/a/**", "/a//b"]);
    expect(cov.get("/a//b")?.sort()).toEqual(["/a/*", "/a/**"]);
    expect(cov.get("/a/*")).toEqual(["/a/**"]);
    expect(cov.get("/a/**")).toEqual([]);
    expect(cov.get("/x")).toEqual([]);
  });

  it("overlappingAny finds shared paths between literals and globs", () => {
    expect(overlappingAny(["/data/*", "/etc/x", "/*/b"], ["/data/log", "/a/*"])).toEqual(
      new Set(["/data/*", "/*/b"]),
    );
  });

  it("stays fast on a recording-sized list (10 000 paths, a few globs)", () => {
    const paths = Array.from({ length: 10_000 }, (_, i) => `/srv/data/d${i % 100}/f${i}`);
    paths.push("/srv/data/d1/*", "/srv/**", "/srv/data/*/f1*");
    const started = performance.now();
    const cov = strictCoverers(paths);
    expect(cov.get("/srv/data/d1/f101")).toContain("/srv/data/d1/*");
    expect(performance.now() - started).toBeLessThan(10_000);
  }, 30_000);
});
