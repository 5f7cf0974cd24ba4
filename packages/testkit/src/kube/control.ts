import { z } from "zod";
import type { FakeApiServer } from "./server.js";
import { KObjectSchema } from "./types.js";

/** KindSpec over the wire; `validate` cannot cross a process boundary, so it is absent here. */
const KindSpecBody = z.object({
  group: z.string(),
  version: z.string(),
  kind: z.string(),
  plural: z.string(),
  namespaced: z.boolean(),
  statusSubresource: z.boolean().default(false),
  shortNames: z.array(z.string()).default([]),
  selectableFields: z.array(z.string()).default([]),
});

/**
 * /_fake/* endpoints: the programmatic API for tests whose fake apiserver runs as a separate
 * process (main.ts). Not part of the Kubernetes API, not authenticated, not in the request log.
 */
export function handleControl(method: string, path: string, body: unknown, api: FakeApiServer): unknown {
  const route = `${method} ${path}`;
  switch (route) {
    case "GET /_fake/requests":
      return api.requests;
    case "DELETE /_fake/requests":
      api.clearRequests();
      return {};
    case "POST /_fake/kinds":
      api.registerKind(KindSpecBody.parse(body));
      return {};
    case "PUT /_fake/objects":
      return api.put(KObjectSchema.parse(body));
    case "POST /_fake/compact":
      api.compact();
      return { resourceVersion: api.resourceVersion };
    case "POST /_fake/close-watches":
      api.closeWatches();
      return {};
    case "POST /_fake/tokens": {
      const { user } = z.object({ user: z.string().min(1) }).parse(body);
      return { user, token: api.tokenFor(user) };
    }
    default:
      throw new Error(`unknown control endpoint ${route}`);
  }
}
