/**
 * Pure parsers for the small procfs texts attribution reads. Total: they return undefined for
 * anything unexpected and never throw.
 */

/**
 * Field 22 of `/proc/<pid>/stat` (`starttime`, clock ticks after boot). `comm` (field 2) is in
 * parentheses and may itself contain spaces and `)`, so fields are counted from the LAST `)`.
 */
export function parseStatStartTime(text: string): number | undefined {
  if (typeof text !== "string") return undefined;
  const close = text.lastIndexOf(")");
  if (close < 0 || text.indexOf("(") > close) return undefined;
  // After ") ": field 3 (state) is index 0, so field 22 is index 19.
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  if (rest.length < 20) return undefined;
  const v = rest[19];
  if (v === undefined || !/^\d{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Field 4 of `/proc/<pid>/stat` (ppid), counted from the last `)` like the start time. */
export function parseStatPpid(text: string): number | undefined {
  if (typeof text !== "string") return undefined;
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const v = text
    .slice(close + 1)
    .trim()
    .split(/\s+/)[1];
  if (v === undefined || !/^\d{1,10}$/.test(v)) return undefined;
  return Number(v);
}

/** `readlink /proc/<pid>/ns/<type>` → inode: `mnt:[4026531840]` → 4026531840. */
export function parseNsLink(link: string, type = "mnt"): number | undefined {
  if (typeof link !== "string") return undefined;
  const m = /^([a-z_]+):\[(\d{1,20})\]$/.exec(link.trim());
  if (m?.[1] !== type || m[2] === undefined) return undefined;
  const n = Number(m[2]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** `/proc/uptime` → seconds since boot (CLOCK_BOOTTIME, 10 ms resolution). */
export function parseUptime(text: string): number | undefined {
  if (typeof text !== "string") return undefined;
  const m = /^(\d{1,12}(?:\.\d{1,9})?)\s/.exec(text);
  if (m?.[1] === undefined) return undefined;
  return Number(m[1]);
}
