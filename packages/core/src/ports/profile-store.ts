import type { AppArmorProfile, SeccompProfile, SelinuxProfile } from "../schemas/profiles.js";

export type ProfileObject = SeccompProfile | SelinuxProfile | AppArmorProfile;

/** Where finished profiles go: the Kubernetes API in cluster mode, a directory in local mode. */
export interface ProfileStore {
  /** Create or update (retrying on conflicts); returns the stored object. */
  put(namespace: string, profile: ProfileObject): Promise<ProfileObject>;
  get(kind: ProfileObject["kind"], namespace: string, name: string): Promise<ProfileObject | undefined>;
  list(
    kind: ProfileObject["kind"],
    namespace: string,
    labels?: Record<string, string>,
  ): Promise<ProfileObject[]>;
  delete(kind: ProfileObject["kind"], namespace: string, name: string): Promise<void>;
}
