import { z } from "zod";
import { API_VERSION, ObjectMeta } from "./kube.js";

export const ProfileEnablement = z.enum(["Enabled", "Disabled"]);

export const SeccompAction = z.enum([
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_LOG",
  "SCMP_ACT_NOTIFY",
]);
export type SeccompAction = z.infer<typeof SeccompAction>;

export const SeccompArchitecture = z.enum([
  "SCMP_ARCH_NATIVE",
  "SCMP_ARCH_X86",
  "SCMP_ARCH_X86_64",
  "SCMP_ARCH_X32",
  "SCMP_ARCH_ARM",
  "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64",
  "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",
  "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",
  "SCMP_ARCH_PPC64LE",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC",
  "SCMP_ARCH_PARISC64",
  "SCMP_ARCH_RISCV64",
]);
export type SeccompArchitecture = z.infer<typeof SeccompArchitecture>;

const SyscallName = z.string().regex(/^[a-z0-9_]{1,64}$/, "not a syscall name");

export const SeccompArg = z.object({
  index: z.number().int().min(0).max(5),
  value: z.number().int().nonnegative().optional(),
  valueTwo: z.number().int().nonnegative().optional(),
  op: z.enum([
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
  ]),
});

export const SeccompRule = z.object({
  names: z.array(SyscallName).min(1).max(1024),
  action: SeccompAction,
  errnoRet: z.number().int().nonnegative().optional(),
  args: z.array(SeccompArg).max(6).optional(),
});
export type SeccompRule = z.infer<typeof SeccompRule>;

export const SeccompSpec = z.object({
  state: ProfileEnablement.optional(),
  baseProfileName: z.string().max(253).optional(),
  defaultAction: SeccompAction,
  architectures: z.array(SeccompArchitecture).max(20).optional(),
  listenerPath: z
    .string()
    .regex(/^\/var\/run\/security-profiles-operator\/[A-Za-z0-9_.-]+$/)
    .optional(),
  listenerMetadata: z.string().optional(),
  syscalls: z.array(SeccompRule).max(1024).optional(),
  flags: z
    .array(
      z.enum([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
      ]),
    )
    .optional(),
});
export type SeccompSpec = z.infer<typeof SeccompSpec>;

const status = z.looseObject({ status: z.string().optional() }).optional();

export const SeccompProfile = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("SeccompProfile"),
  metadata: ObjectMeta,
  spec: SeccompSpec,
  status,
});
export type SeccompProfile = z.infer<typeof SeccompProfile>;

/** `allow: type → class → permissions`; `@self` names the profile's own process type. */
export const SelinuxSpec = z.object({
  state: ProfileEnablement.optional(),
  inherit: z
    .array(
      z.object({ kind: z.enum(["System", "SelinuxProfile"]).default("System"), name: z.string().max(253) }),
    )
    .default([{ kind: "System", name: "container" }]),
  mode: z.enum(["Enforcing", "Permissive"]).default("Enforcing"),
  allow: z.record(z.string().max(256), z.record(z.string().max(64), z.array(z.string().max(64)).max(256))),
});
export type SelinuxSpec = z.infer<typeof SelinuxSpec>;

export const SelinuxProfile = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("SelinuxProfile"),
  metadata: ObjectMeta,
  spec: SelinuxSpec,
  status,
});
export type SelinuxProfile = z.infer<typeof SelinuxProfile>;

const paths = z.array(z.string().max(4096)).max(10_000).optional();
export const AppArmorAbstract = z.object({
  executable: z.object({ allowedExecutables: paths, allowedLibraries: paths }).optional(),
  filesystem: z.object({ readOnlyPaths: paths, writeOnlyPaths: paths, readWritePaths: paths }).optional(),
  network: z
    .object({
      allowRaw: z.boolean().optional(),
      allowedProtocols: z
        .object({ allowTcp: z.boolean().optional(), allowUdp: z.boolean().optional() })
        .optional(),
    })
    .optional(),
  capability: z.object({ allowedCapabilities: z.array(z.string().max(32)).max(64).optional() }).optional(),
});
export type AppArmorAbstract = z.infer<typeof AppArmorAbstract>;

export const AppArmorSpec = z.object({
  state: ProfileEnablement.optional(),
  mode: z.enum(["Enforce", "Complain"]).default("Enforce"),
  abstract: AppArmorAbstract,
});

export const AppArmorProfile = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("AppArmorProfile"),
  metadata: ObjectMeta,
  spec: AppArmorSpec,
  status,
});
export type AppArmorProfile = z.infer<typeof AppArmorProfile>;
