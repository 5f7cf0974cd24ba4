import { ObjectName } from "@secprof/core";
import { z } from "zod";

/**
 * The privilege split's wire protocol: the unprivileged installer hands AppArmor and SELinux work
 * to `installer-apply` over a unix socket, one JSON request per connection, one JSON response
 * back, each ending in a newline. The apply side trusts nothing in a request: names are checked
 * again (host-writer's allow-list), text is compiled again and must carry secprof's mark, and
 * only the two policy kinds exist here (seccomp never crosses: the unprivileged side writes it).
 */

export const MAX_MESSAGE_BYTES = 17 * 1024 * 1024;

const PolicyKindSchema = z.enum(["AppArmorProfile", "SelinuxProfile"]);
const Target = { kind: PolicyKindSchema, name: ObjectName };
const Text = z.string().max(16 * 1024 * 1024);

export const ApplyRequest = z.discriminatedUnion("op", [
  z.object({ op: z.literal("write"), ...Target, text: Text }),
  z.object({ op: z.literal("remove"), ...Target }),
  z.object({ op: z.literal("read"), ...Target }),
  z.object({ op: z.literal("load"), ...Target, text: Text }),
  z.object({ op: z.literal("unload"), ...Target, text: Text }),
  z.object({ op: z.literal("unavailable"), kind: PolicyKindSchema }),
]);
export type ApplyRequest = z.infer<typeof ApplyRequest>;

/** Errors keep their class across the socket, so reconcile reacts as it does in-process. */
export const ApplyError = z.object({
  type: z.enum(["HostWriteError", "LoadError", "NameError", "Refused", "Internal"]),
  message: z.string().max(8192),
  code: z.string().max(64).optional(),
  path: z.string().max(8192).optional(),
});
export type ApplyError = z.infer<typeof ApplyError>;

export const ApplyResponse = z.union([
  z.object({
    ok: z.literal(true),
    /** write/remove: the file's path; changed/removed flags; previous/current bytes in base64. */
    path: z.string().max(8192).optional(),
    changed: z.boolean().optional(),
    removed: z.boolean().optional(),
    previous: z.string().optional(),
    existing: z.enum(["absent", "file", "symlink", "other"]).optional(),
    what: z.string().max(256).optional(),
    bytes: z.string().optional(),
    reason: z.string().max(4096).optional(),
  }),
  z.object({ ok: z.literal(false), error: ApplyError }),
]);
export type ApplyResponse = z.infer<typeof ApplyResponse>;
