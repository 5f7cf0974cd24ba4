import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LineSplitter } from "./lines.js";

/** Reference: complete lines of `text`, minus those longer than `max`, and where the last complete one ends. */
function reference(text: string, max: number) {
  const end = text.lastIndexOf("\n") + 1;
  const all = end === 0 ? [] : text.slice(0, end - 1).split("\n");
  const kept = all.filter((l) => l.length <= max);
  return { lines: kept, dropped: all.length - kept.length, committed: end };
}

function feed(s: LineSplitter, text: string, cuts: number[]): string[] {
  const out: string[] = [];
  let at = 0;
  for (const cut of [...cuts.filter((c) => c < text.length).sort((a, b) => a - b), text.length]) {
    out.push(...s.push(text.slice(at, cut)));
    at = Math.max(at, cut);
  }
  return out;
}

describe("LineSplitter", () => {
  it("gives the same lines, drops and offsets however the bytes are chunked", () => {
    const text = fc.array(fc.oneof(fc.constantFrom("\n", "a", "\xff", "\r"), fc.string({ maxLength: 12 })), {
      maxLength: 60,
    });
    fc.assert(
      fc.property(text, fc.array(fc.nat(400)), fc.integer({ min: 1, max: 10 }), (parts, cuts, max) => {
        const joined = parts.join("");
        const s = new LineSplitter(max, 0);
        const want = reference(joined, max);
        expect(feed(s, joined, cuts)).toEqual(want.lines);
        expect(s.dropped).toBe(want.dropped);
        expect(s.committed).toBe(want.committed);
        expect(s.position).toBe(joined.length);
        // The same through eachRange, fed the bytes at the same cuts.
        const bytes = Buffer.from(joined, "latin1");
        const r = new LineSplitter(max, 0);
        const got: string[] = [];
        let at = 0;
        for (const cut of [...cuts.filter((c) => c < joined.length).sort((a, b) => a - b), joined.length]) {
          r.eachRange(bytes, (t, from, to) => got.push(t.slice(from, to)), at, Math.max(at, cut));
          at = Math.max(at, cut);
        }
        expect(got).toEqual(want.lines);
        expect([r.dropped, r.committed, r.position]).toEqual([want.dropped, want.committed, joined.length]);
      }),
    );
  });

  it("never holds more than the limit of a long line", () => {
    const s = new LineSplitter(8, 100);
    expect(s.push("x".repeat(20))).toEqual([]);
    expect(s.position).toBe(120);
    expect(s.push("yy\nok\n")).toEqual(["ok"]);
    expect(s.dropped).toBe(1);
    expect(s.committed).toBe(126);
  });

  it("finish() delivers an unterminated last line once", () => {
    const s = new LineSplitter(100, 0);
    expect(s.push("a\nb")).toEqual(["a"]);
    expect(s.finish()).toEqual(["b"]);
    expect(s.finish()).toEqual([]);
    expect(s.committed).toBe(3);
  });

  it("skipToNewline starts at the next line without counting a drop", () => {
    const s = new LineSplitter(100, 10, true);
    expect(s.push("tail of a line\nnext\n")).toEqual(["next"]);
    expect(s.dropped).toBe(0);
    expect(s.committed).toBe(10 + 20);
  });
});

describe("LineSplitter.eachRange", () => {
  it("gives the lines, drops and offsets of push(), whatever the chunk sizes (long lines, many pieces)", () => {
    const line = fc.oneof({ weight: 5, arbitrary: fc.nat(300) }, fc.integer({ min: 60_000, max: 140_000 }));
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 40 }),
        fc.array(fc.nat(3_000_000), { maxLength: 8 }),
        (lens, cuts) => {
          const text =
            lens.map((n, i) => String.fromCharCode(97 + (i % 26)).repeat(n)).join("\n") +
            (lens.length % 2 ? "\n" : "");
          const bytes = Buffer.from(text, "latin1");
          const max = 100_000;
          const a = new LineSplitter(max, 0);
          const d = new LineSplitter(max, 0);
          const want: string[] = [];
          const ranges: string[] = [];
          let at = 0;
          for (const cut of [...cuts.filter((x) => x < bytes.length).sort((x, y) => x - y), bytes.length]) {
            want.push(...a.push(text.slice(at, cut)));
            d.eachRange(
              bytes,
              (t, from, to) => {
                expect(to === t.length || t.charCodeAt(to) === 10).toBe(true);
                ranges.push(t.slice(from, to));
              },
              at,
              Math.max(at, cut),
            );
            at = Math.max(at, cut);
          }
          expect(ranges).toEqual(want);
          expect([d.dropped, d.committed, d.position]).toEqual([a.dropped, a.committed, a.position]);
        },
      ),
      { numRuns: 40 },
    );
  });
});
