/**
 * Splits byte chunks into lines without copying more than needed. Lines are decoded as latin1
 * so every byte survives as one char (hex-encoded fields are decoded to UTF-8 later).
 * A line longer than `maxLine` is dropped whole and counted, never split into pieces that
 * could be read as separate records.
 */
export class LineSplitter {
  private carry: Buffer | undefined;
  private skipping = false;
  overlong = 0;

  constructor(private readonly maxLine = 1 << 20) {}

  push(chunk: Buffer, onLine: (line: string) => void): void {
    let start = 0;
    let buf = chunk;
    if (this.carry !== undefined) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl < 0) break;
      if (this.skipping) this.skipping = false;
      else if (nl - start > this.maxLine) this.overlong++;
      else onLine(buf.toString("latin1", start, nl));
      start = nl + 1;
    }
    if (start >= buf.length) return;
    if (this.skipping || buf.length - start > this.maxLine) {
      if (!this.skipping) this.overlong++;
      this.skipping = true;
      return;
    }
    this.carry = buf.subarray(start);
  }

  /** The final line when the input does not end with a newline. */
  end(onLine: (line: string) => void): void {
    if (this.carry !== undefined && this.carry.length > 0) onLine(this.carry.toString("latin1"));
    this.carry = undefined;
    this.skipping = false;
  }
}
