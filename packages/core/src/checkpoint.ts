import { z } from "zod";

/**
 * Where a log follower stopped: the file's identity (dev + inode) and the byte offset just after the last
 * line handed out. Identity, not the path, is what survives rotation: after `mv audit.log audit.log.1` the
 * inode still names the file the offset belongs to. `path` is the followed path, kept so a checkpoint taken
 * for one log is never applied to another.
 */
export const Checkpoint = z.object({
  v: z.literal(1),
  dev: z.number().int().nonnegative(),
  ino: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  path: z.string(),
});
export type Checkpoint = z.infer<typeof Checkpoint>;
