import { createHash } from "node:crypto";
import {
  API_GROUP,
  APPROVAL_DIGEST,
  ApprovalRecord,
  DNS_SUBDOMAIN,
  type ProfileKind,
  type ProfileRef,
  profileRefKey,
} from "@secprof/core";
import { z } from "zod";
import type { NodeProfileStatus } from "../status.js";

/**
 * The installer's Kubernetes objects and how they map to its values. Shared by the daemon and
 * `secprof approve` (cluster mode), so both agree on names and shapes.
 *
 * - ProfileApproval (cluster-scoped, written by people only; see the RBAC table): one object per
 *   profile, `spec` = core's ApprovalRecord, named by `approvalObjectName`. The canonical rendering
 *   that was approved rides in an annotation so the next `approve` can show a diff; it is checked
 *   against the digest on read (a tampered snapshot is ignored, never shown as approved content).
 * - ProfileNodeStatus (cluster-scoped, one per node × profile, written by that node's installer):
 *   `spec` names node and profile, `status` holds state, `Reason: message` and the digest of what
 *   is installed. An ownerReference to the profile lets the garbage collector remove it with the
 *   profile (the installer has no delete verb).
 */

export const PROFILE_VERSION = "v1";
export const PROFILE_PLURALS: Readonly<Record<ProfileKind, string>> = {
  SeccompProfile: "seccompprofiles",
  SelinuxProfile: "selinuxprofiles",
  AppArmorProfile: "apparmorprofiles",
};
export const APPROVAL_PLURAL = "profileapprovals";
export const NODE_STATUS_PLURAL = "profilenodestatuses";
export const APPROVED_CONTENT_ANNOTATION = "secprof.io/approved-content";
export const NODE_LABEL = "secprof.io/node";
export const NAMESPACE_LABEL = "secprof.io/profile-namespace";
/** The status object's message limit in the CRD. */
const MESSAGE_MAX = 4096;

const KIND_SHORT: Readonly<Record<ProfileKind, string>> = {
  SeccompProfile: "seccomp",
  SelinuxProfile: "selinux",
  AppArmorProfile: "apparmor",
};

const hash = (s: string, n: number) => createHash("sha256").update(s).digest("hex").slice(0, n);

/** `<kind>.<namespace.>name`, or a hashed name when that is not a valid, short enough object name. */
function readableName(parts: string[], key: string): string {
  const name = parts.join(".");
  return name.length <= 253 && DNS_SUBDOMAIN.test(name) ? name : `${parts[0]}.${hash(key, 40)}`;
}

export function approvalObjectName(ref: ProfileRef): string {
  const parts = [KIND_SHORT[ref.kind], ...(ref.namespace === undefined ? [] : [ref.namespace]), ref.name];
  return readableName(parts, profileRefKey(ref));
}

/** Node names are arbitrary DNS subdomains: the per-node objects and finalizers use a hash. */
export function nodeStatusName(node: string, ref: ProfileRef): string {
  return `${KIND_SHORT[ref.kind]}.${hash(`${node}\n${profileRefKey(ref)}`, 32)}`;
}

/** A finalizer per node: `<node>` when it fits a finalizer's name part, else its hash. */
export function nodeFinalizer(node: string): string {
  const part = node.length <= 63 && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(node) ? node : hash(node, 40);
  return `installer.secprof.io/${part}`;
}

const Meta = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
  deletionTimestamp: z.union([z.string(), z.date()]).optional(),
});
export const KubeMeta = z.looseObject({ metadata: Meta });
export type KubeMeta = z.infer<typeof KubeMeta>;

export const ApprovalObject = z.looseObject({ metadata: Meta, spec: ApprovalRecord });
export type ApprovalObject = z.infer<typeof ApprovalObject>;

export function approvalObject(record: ApprovalRecord, snapshot?: string, resourceVersion?: string) {
  return {
    apiVersion: `${API_GROUP}/v1`,
    kind: "ProfileApproval",
    metadata: {
      name: approvalObjectName(record),
      labels: { "app.kubernetes.io/part-of": "secprof" },
      ...(snapshot === undefined ? {} : { annotations: { [APPROVED_CONTENT_ANNOTATION]: snapshot } }),
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    },
    spec: record,
  };
}

/** The approved canonical rendering stored on the object, if present and matching its digest. */
export function approvedSnapshot(obj: ApprovalObject): string | undefined {
  const s = obj.metadata.annotations?.[APPROVED_CONTENT_ANNOTATION];
  if (s === undefined || !APPROVAL_DIGEST.test(obj.spec.digest)) return undefined;
  return `sha256:${createHash("sha256").update(s).digest("hex")}` === obj.spec.digest ? s : undefined;
}

export const NodeStatusObject = z.looseObject({
  metadata: Meta,
  spec: z.looseObject({ node: z.string(), kind: z.string(), name: z.string() }),
  status: z
    .looseObject({
      state: z.string().optional(),
      message: z.string().optional(),
      digest: z.string().optional(),
    })
    .optional(),
});
export type NodeStatusObject = z.infer<typeof NodeStatusObject>;

/** What a status object carries (compared before writing, so unchanged statuses cost no call). */
export function nodeStatusBody(s: NodeProfileStatus): { state: string; message: string; digest?: string } {
  // The object says what is on the host, not whether this pass rewrote it ("installed" vs "up to
  // date"): otherwise the pass after every install would write the status again.
  const text = s.state === "Installed" ? s.message.replace(/^up to date /, "installed ") : s.message;
  const message = `${s.reason}: ${text}`;
  const body: { state: string; message: string; digest?: string } = {
    state: s.state,
    message: message.length > MESSAGE_MAX ? `${message.slice(0, MESSAGE_MAX - 1)}…` : message,
  };
  if (s.installedDigest !== undefined) body.digest = s.installedDigest;
  return body;
}

export interface Owner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export function nodeStatusObject(
  s: NodeProfileStatus,
  owner: Owner | undefined,
  resourceVersion: string | undefined,
) {
  const ref: ProfileRef = { kind: s.kind, name: s.name };
  if (s.namespace !== undefined) ref.namespace = s.namespace;
  return {
    apiVersion: `${API_GROUP}/v1`,
    kind: "ProfileNodeStatus",
    metadata: {
      name: nodeStatusName(s.node, ref),
      labels: {
        "app.kubernetes.io/part-of": "secprof",
        ...(s.node.length <= 63 ? { [NODE_LABEL]: s.node } : {}),
        ...(s.namespace === undefined ? {} : { [NAMESPACE_LABEL]: s.namespace }),
      },
      ...(owner === undefined ? {} : { ownerReferences: [{ ...owner, blockOwnerDeletion: false }] }),
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    },
    spec: { node: s.node, kind: s.kind, name: s.name },
    status: nodeStatusBody(s),
  };
}
