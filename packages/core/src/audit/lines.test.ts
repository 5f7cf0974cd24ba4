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

/**
 * Text of short and long lines (some over the limit of 100 000, several decoded pieces long), and the
 * cut points of the chunks it is fed in: `[from, to)` spans in order, covering it.
 */
const piecedText = fc
  .tuple(
    fc.array(fc.oneof({ weight: 5, arbitrary: fc.nat(300) }, fc.integer({ min: 60_000, max: 140_000 })), {
      maxLength: 40,
    }),
    fc.array(fc.nat(3_000_000), { maxLength: 8 }),
  )
  .map(([lens, cuts]) => {
    const text =
      lens.map((n, i) => String.fromCharCode(97 + (i % 26)).repeat(n)).join("\n") +
      (lens.length % 2 ? "\n" : "");
    const spans: [number, number][] = [];
    let at = 0;
    for (const cut of [...cuts.filter((x) => x < text.length).sort((x, y) => x - y), text.length]) {
      spans.push([at, Math.max(at, cut)]);
      at = Math.max(at, cut);
    }
    return { text, bytes: Buffer.from(text, "latin1"), spans };
  });
const MAX = 100_000;

describe("LineSplitter.eachRange", () => {
  it("gives the lines, drops and offsets of push(), whatever the chunk sizes (long lines, many pieces)", () => {
    fc.assert(
      fc.property(piecedText, ({ text, bytes, spans }) => {
        const a = new LineSplitter(MAX, 0);
        const d = new LineSplitter(MAX, 0);
        const want: string[] = [];
        const ranges: string[] = [];
        for (const [from, to] of spans) {
          want.push(...a.push(text.slice(from, to)));
          d.eachRange(
            bytes,
            (t, s, e) => {
              expect(e === t.length || t.charCodeAt(e) === 10).toBe(true);
              ranges.push(t.slice(s, e));
            },
            from,
            to,
          );
        }
        expect(ranges).toEqual(want);
        expect([d.dropped, d.committed, d.position]).toEqual([a.dropped, a.committed, a.position]);
      }),
      { numRuns: 40 },
    );
  });
});

describe("LineSplitter.pushBytes", () => {
  it("gives the lines, drops and offsets of push(), and after each piece commits exactly what it gave", () => {
    fc.assert(
      fc.property(piecedText, ({ text, bytes, spans }) => {
        const a = new LineSplitter(MAX, 0);
        const p = new LineSplitter(MAX, 0);
        const want: string[] = [];
        const got: string[] = [];
        for (const [from, to] of spans) {
          want.push(...a.push(text.slice(from, to)));
          for (const lines of p.pushBytes(bytes, from, to)) {
            got.push(...lines);
            // The lines up to `committed` are the ones handed out: a checkpoint there loses nothing.
            expect(reference(text.slice(0, p.committed), MAX).lines).toEqual(got);
          }
        }
        expect(got).toEqual(want);
        expect([p.dropped, p.committed, p.position]).toEqual([a.dropped, a.committed, a.position]);
      }),
      { numRuns: 40 },
    );
  });

  it("decodes nothing ahead of what was asked for", () => {
    const bytes = Buffer.from(`${"x".repeat(99)}\n`.repeat(2000), "latin1"); // 200 000 bytes: 4 pieces
    const s = new LineSplitter();
    const pieces = s.pushBytes(bytes);
    const first = pieces.next();
    expect(first.done).toBe(false);
    expect(s.position).toBeLessThan(bytes.length);
    expect(s.committed).toBe((first.done ? [] : first.value).length * 100);
    const rest = [...pieces].flat();
    expect((first.done ? 0 : first.value.length) + rest.length).toBe(2000);
    expect(s.committed).toBe(bytes.length);
  });
});
