const NONE: string[] = [];

/**
 * `eachRange` decodes at most this many bytes at a time: a string of this size is an ordinary
 * young-generation object, and its lines are still in cache when they are read. With 1 MiB pieces (Node
 * makes a latin1 string over ~1 MB an external one) the SECCOMP path measured 25% slower.
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
   * `push` of the latin1 text of `bytes[start, end)`, decoded `DECODE_PIECE` at a time: yields the lines
   * each piece completes (maybe none). A piece is decoded and pushed only when the next value is asked
   * for, so after each yield `committed` covers exactly the lines handed out so far: a consumer may stop
   * between pieces and checkpoint. Lines a consumer reads right away are then still in cache, and each
   * piece is an ordinary heap string, where a 1 MiB chunk is an external one (see `DECODE_PIECE`); a
   * piece stays alive as long as a substring of it does.
   */
  *pushBytes(bytes: Buffer, start = 0, end = bytes.length): Generator<string[], void, undefined> {
    for (let at = start; at < end; at += DECODE_PIECE)
      yield this.push(bytes.toString("latin1", at, Math.min(end, at + DECODE_PIECE)));
  }

  /**
   * `push` of the latin1 text of `bytes[start, end)`, without a string per line: each line is handed
   * to `onRange` as `text[from, to)`, where `text` is the decoded piece it lies in (or, for a line that
   * spans pieces, the joined line itself) and `to` is at a newline or the end of `text`. The same lines,
   * drops and offsets as `push`.
   *
   * For consumers that keep nothing of the text (the SECCOMP aggregator): the bytes are decoded
   * `DECODE_PIECE` at a time, and a piece is then garbage the next scavenge frees. A consumer that keeps
   * substrings (events, grouped records) keeps their piece alive, and copying live pieces costs the
   * scavenger more than one large decoded chunk does: such consumers are better served by `push`.
   */
  eachRange(
    bytes: Buffer,
    onRange: (text: string, from: number, to: number) => void,
    start = 0,
    end = bytes.length,
  ): void {
    for (let at = start; at < end; at += DECODE_PIECE)
      this.ranges(bytes.toString("latin1", at, Math.min(end, at + DECODE_PIECE)), onRange);
  }

  private ranges(s: string, onRange: (text: string, from: number, to: number) => void): void {
    let p = 0;
    if (this.discarding) {
      const nl = s.indexOf("\n");
      if (nl < 0) {
        this.skipped += s.length;
        return;
      }
      this.committed += this.skipped + nl + 1;
      if (this.countDiscard) this.dropped++;
      this.discarding = false;
      this.countDiscard = true;
      this.skipped = 0;
      p = nl + 1;
    }
    const max = this.maxLineBytes;
    if (this.pending.length > 0) {
      const nl = s.indexOf("\n", p);
      if (nl < 0) {
        this.pending += p === 0 ? s : s.slice(p);
        this.overflowCheck();
        return;
      }
      const line = this.pending + s.slice(p, nl);
      this.pending = "";
      this.committed += line.length + 1;
      if (line.length > max) this.dropped++;
      else onRange(line, 0, line.length);
      p = nl + 1;
    }
    for (let nl = s.indexOf("\n", p); nl >= 0; nl = s.indexOf("\n", p)) {
      this.committed += nl - p + 1;
      if (nl - p > max) this.dropped++;
      else onRange(s, p, nl);
      p = nl + 1;
    }
    if (p < s.length) {
      this.pending = p === 0 ? s : s.slice(p);
      this.overflowCheck();
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
