const NONE: string[] = [];

/**
 * `pushBytes` decodes at most this many bytes at a time. A string of this size is an ordinary
 * young-generation object that the next scavenge frees; a 1 MiB one is a large or external string
 * (Node externalizes latin1 strings over ~1 MB) that only full collections reclaim, and a stream of
 * them kept the collector busy for about a third of the read + split time. The lines of a piece are
 * also still in cache when they are parsed.
 */
const DECODE_PIECE = 64 * 1024;

/**
 * Splits latin1-decoded chunks of one file into lines while tracking byte offsets. latin1 maps every byte
 * to one char, so string lengths are byte counts and no byte is ever lost to a decoder: auditd writes raw
 * bytes and the parser decodes hex-encoded fields itself.
 *
 * `committed` is the offset just after the last line handed out (or dropped): the checkpoint offset. A
 * line longer than `maxLineBytes` is dropped and counted, never split, and is never buffered whole: once
 * it passes the limit its bytes are skipped until its newline.
 */
export class LineSplitter {
  /** Offset just after the last complete line returned or dropped. */
  committed: number;
  /** Lines dropped for exceeding `maxLineBytes`. */
  dropped = 0;
  private pending = "";
  private discarding = false;
  private countDiscard = true;
  private skipped = 0;

  constructor(
    private readonly maxLineBytes = 1 << 20,
    start = 0,
    /** Start inside a line (e.g. at the end of a file whose last line is unfinished): skip to the next newline. */
    skipToNewline = false,
  ) {
    this.committed = start;
    if (skipToNewline) {
      this.discarding = true;
      this.countDiscard = false;
    }
  }

  /** Offset of the next byte to read: everything before it has been pushed. */
  get position(): number {
    return this.committed + this.pending.length + this.skipped;
  }

  /** Takes the text of the bytes at `position`; returns the lines it completes, in order. */
  push(text: string): string[] {
    let s = text;
    if (this.discarding) {
      const nl = s.indexOf("\n");
      if (nl < 0) {
        this.skipped += s.length;
        return NONE;
      }
      this.committed += this.skipped + nl + 1;
      if (this.countDiscard) this.dropped++;
      this.discarding = false;
      this.countDiscard = true;
      this.skipped = 0;
      s = s.slice(nl + 1);
    }
    const last = s.lastIndexOf("\n");
    if (last < 0) {
      this.pending += s;
      this.overflowCheck();
      return NONE;
    }
    // Split the chunk itself and glue the carried partial onto its first line only: `pending + chunk` would
    // make V8 flatten (copy) the whole chunk before splitting it. split() then pop() rather than
    // slice().split(): one string less per chunk.
    const lines = s.split("\n");
    const carried = this.pending.length;
    if (carried > 0) lines[0] = this.pending + lines[0];
    this.pending = lines.pop() ?? "";
    this.committed += carried + last + 1;
    this.overflowCheck();
    // A line can only be too long if the first one (with the carried part) is, or if the lines after it
    // span more than the limit: with chunks no bigger than the limit, filtering is rare.
    const first = s.indexOf("\n");
    return carried + first > this.maxLineBytes || last - first - 1 > this.maxLineBytes
      ? this.dropLong(lines)
      : lines;
  }

  /**
   * `push` of the latin1 text of `bytes[start, end)`, decoded a piece at a time (`DECODE_PIECE`): the
   * same lines as `push(bytes.toString("latin1", start, end))`, for less garbage-collection work.
   */
  pushBytes(bytes: Buffer, start = 0, end = bytes.length): string[] {
    if (end - start <= DECODE_PIECE) return this.push(bytes.toString("latin1", start, end));
    const parts: string[][] = [];
    let total = 0;
    for (let at = start; at < end; at += DECODE_PIECE) {
      const lines = this.push(bytes.toString("latin1", at, Math.min(end, at + DECODE_PIECE)));
      if (lines.length === 0) continue;
      parts.push(lines);
      total += lines.length;
    }
    if (parts.length <= 1) return parts[0] ?? NONE;
    const out = new Array<string>(total);
    let i = 0;
    for (const lines of parts) for (const line of lines) out[i++] = line;
    return out;
  }

  /**
   * `pushBytes`, handing each line to `onLine` as soon as its piece is split rather than collecting
   * them (for a consumer that takes lines one at a time).
   */
  eachLine(bytes: Buffer, onLine: (line: string) => void, start = 0, end = bytes.length): void {
    for (let at = start; at < end; at += DECODE_PIECE) {
      const lines = this.push(bytes.toString("latin1", at, Math.min(end, at + DECODE_PIECE)));
      for (let i = 0; i < lines.length; i++) onLine(lines[i] as string);
    }
  }

  /**
   * The file will never grow again (rotated away and drained): its unterminated last line is as complete as
   * it will ever be, so it is delivered rather than lost.
   */
  finish(): string[] {
    if (this.discarding) {
      this.committed += this.skipped;
      if (this.countDiscard) this.dropped++;
      this.discarding = false;
      this.skipped = 0;
      return NONE;
    }
    if (this.pending.length === 0) return NONE;
    const line = this.pending;
    this.committed += line.length;
    this.pending = "";
    return [line];
  }

  private overflowCheck(): void {
    if (this.pending.length <= this.maxLineBytes) return;
    this.discarding = true;
    this.skipped = this.pending.length;
    this.pending = "";
  }

  private dropLong(lines: string[]): string[] {
    const kept = lines.filter((l) => l.length <= this.maxLineBytes);
    this.dropped += lines.length - kept.length;
    return kept;
  }
}
