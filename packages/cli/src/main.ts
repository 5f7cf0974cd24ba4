#!/usr/bin/env node
import { access, readFile } from "node:fs/promises";
import { hostname } from "node:os";
import {
  activeLsms,
  BpfRecorder,
  LogsRecorder,
  RUNC_INIT_COMM,
  resolveCommand,
  runcCalibration,
} from "@secprof/recorder";
import { Command, Option } from "commander";
import { approve } from "./commands/approve.js";
import { convertCommand } from "./commands/convert.js";
import { type DiffFormat, diffCommand } from "./commands/diff.js";
import { install } from "./commands/install.js";
import { mergeCommand } from "./commands/merge.js";
import { openInput, parseStream } from "./commands/parse.js";
import { pull } from "./commands/pull.js";
import { parseKinds, type RecorderName, type RecordKind, record } from "./commands/record.js";

// Composition root: the only place that reads process state and wires commands to real I/O.
const program = new Command("secprof")
  .description("record what workloads do; build seccomp, SELinux and AppArmor profiles")
  .enablePositionalOptions();

program
  .command("parse")
  .description("parse audit records (auditd, syslog/kern.log, journald, dmesg) into NDJSON events")
  .addOption(
    new Option("--format <format>", "input line form")
      .choices(["auto", "auditd", "syslog", "journal"])
      .default("auto"),
  )
  .option("--stats", "print counts by kind and drop reason to stderr")
  .argument("[file]", "input file, or - for stdin", "-")
  .action(
    async (file: string, opts: { format: "auto" | "auditd" | "syslog" | "journal"; stats?: boolean }) => {
      if (file !== "-") {
        try {
          await access(file);
        } catch (err) {
          process.stderr.write(
            `secprof parse: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`,
          );
          process.exitCode = 2;
          return;
        }
      }
      await parseStream(
        { input: openInput(file, process.stdin), stdout: process.stdout, stderr: process.stderr },
        opts.format,
        opts.stats === true,
      );
    },
  );

program
  .command("record")
  .description("run CMD and record everything it and its descendants do into profiles")
  .addOption(
    new Option("--recorder <recorder>", "bpf (eBPF, default) or logs (audit log)").choices(["bpf", "logs"]),
  )
  .option("--name <name>", "profile name (DNS-1123)", "profile")
  .option("--out <dir>", "output directory", ".")
  .addOption(
    new Option(
      "--for <runtime>",
      "also allow what this OCI runtime does after installing the filter (measured)",
    ).choices(["runc"]),
  )
  .option("--audit-log <file>", "audit log the logs recorder follows", "/var/log/audit/audit.log")
  .option(
    "--kind <kinds>",
    "profile kinds to write, comma-separated: seccomp, apparmor, selinux (says which this recorder cannot produce here)",
    parseKinds,
    ["seccomp"] as RecordKind[],
  )
  .argument("<cmd...>", "the command (after --)")
  .passThroughOptions()
  .action(
    async (
      argv: string[],
      opts: {
        recorder?: RecorderName;
        name: string;
        out: string;
        for?: "runc";
        auditLog: string;
        kind: RecordKind[];
      },
    ) => {
      const logs = (runtimeComm?: string) =>
        new LogsRecorder({ auditLog: opts.auditLog, ...(runtimeComm === undefined ? {} : { runtimeComm }) });
      let interrupts = 0;
      process.exitCode = await record(
        {
          recorder: opts.recorder ?? "bpf",
          name: opts.name,
          out: opts.out,
          forRuntime: opts.for,
          argv,
          kinds: opts.kind,
        },
        {
          makeRecorder: (name, inContainer, kinds) => {
            if (name === "logs") return logs(inContainer ? RUNC_INIT_COMM : undefined);
            return new BpfRecorder(inContainer, process.env.SECPROF_BPFTRACE, {
              apparmor: kinds.includes("apparmor"),
            });
          },
          lsms: activeLsms(),
          calibrateRunc: async (recorder) => {
            const runc = await resolveCommand("runc", process.env.PATH);
            if (!runc.ok) return "runc is not installed";
            const cacheDir = process.env.SECPROF_CACHE_DIR ?? "/var/cache/secprof/runtime";
            return runcCalibration(runc.file, cacheDir, () =>
              recorder === "logs" ? logs(RUNC_INIT_COMM) : logs(RUNC_INIT_COMM),
            );
          },
          env: process.env,
          cwd: process.cwd(),
          stderr: process.stderr,
          // Ctrl-C reaches CMD through the terminal; the first one lets it end and still writes the
          // profiles, a second one kills it.
          interrupt: (stop) =>
            process.on("SIGINT", () => {
              interrupts++;
              stop(interrupts > 1 ? "SIGKILL" : "SIGINT");
            }),
        },
        opts.recorder !== undefined,
      );
    },
  );

/** exactOptionalPropertyTypes: omit unset options instead of passing undefined. */
const defined = <T extends Record<string, unknown>>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };

const io = { stdout: process.stdout, stderr: process.stderr };

program
  .command("diff")
  .description("compare profiles semantically; exit 1 when NEW allows anything OLD did not (a CI drift gate)")
  .addOption(new Option("--format <format>", "output").choices(["text", "markdown", "json"]).default("text"))
  .argument("<old>", "profile file (OCI JSON or CR YAML), directory or extracted bundle")
  .argument("<new>", "the same, newer")
  .action(async (oldPath: string, newPath: string, opts: { format: DiffFormat }) => {
    process.exitCode = await diffCommand({ old: oldPath, new: newPath, format: opts.format }, io);
  });

program
  .command("merge")
  .description(
    "merge profiles of each kind (seccomp: least restrictive action per syscall; SELinux: type/class/permission union; AppArmor: glob-aware union)",
  )
  .option("--out <dir>", "write the merged profile files here (default: CR YAML on stdout)")
  .option("--name <name>", "name of the merged profile (default: the first input's)")
  .option("--one-name-per-rule", "SPO's layout: one syscall per rule")
  .option("--check", "exit 1 if the first input does not already allow everything the merge does")
  .argument("<inputs...>", "profile files")
  .action(
    async (
      inputs: string[],
      opts: { out?: string; name?: string; oneNamePerRule?: boolean; check?: boolean },
    ) => {
      process.exitCode = await mergeCommand(
        {
          inputs,
          ...defined({ out: opts.out, name: opts.name }),
          layout: opts.oneNamePerRule ? "per-name" : "grouped",
          check: opts.check === true,
        },
        io,
      );
    },
  );

program
  .command("convert")
  .description("render SPO profiles to their host form: OCI seccomp JSON, SELinux CIL, AppArmor text")
  .option(
    "--out <dir>",
    "write NAME.seccomp.json / NAME.cil / NAME.apparmor here (default: stdout, one profile)",
  )
  .argument("<files...>", "profile files (YAML/JSON, multi-document) or directories")
  .action(async (inputs: string[], opts: { out?: string }) => {
    process.exitCode = await convertCommand({ inputs, ...defined({ out: opts.out }) }, io);
  });

program
  .command("pull")
  .description("download a recording's bundle, verify every digest and extract it safely")
  .requiredOption("--out <dir>", "directory to extract into")
  .option("--token <token>", "bearer token (default: $SECPROF_TOKEN)")
  .option("--server <url>", "merger API base URL for NAMESPACE/RECORDING sources (default: $SECPROF_SERVER)")
  .option("--force", "replace a non-empty --out")
  .argument("<source>", "bundle URL, or NAMESPACE/RECORDING with --server")
  .action(async (source: string, opts: { out: string; token?: string; server?: string; force?: boolean }) => {
    const token = opts.token ?? process.env.SECPROF_TOKEN;
    const server = opts.server ?? process.env.SECPROF_SERVER;
    process.exitCode = await pull(
      { source, out: opts.out, force: opts.force === true, ...defined({ token, server }) },
      { fetch, stderr: process.stderr },
    );
  });

program
  .command("approve")
  .description("approve a profile's exact content (its digest) for installation; shows the diff first")
  .argument("<ref>", "KIND/NAME or KIND/NAMESPACE/NAME")
  .option("--dir <dir>", "single-host: directory holding the profiles (CR YAML); without it: cluster mode")
  .option("--kubeconfig <file>", "cluster mode: kubeconfig (default: KUBECONFIG, ~/.kube/config)")
  .option("--revoke", "revoke the current approval")
  .option("--by <who>", "single-host: approver (default: the invoking user); cluster: the kubeconfig user")
  .option("--store <file>", "approval store (default: <dir>/.secprof/approvals.json)")
  .action(
    async (
      ref: string,
      o: { dir?: string; kubeconfig?: string; revoke?: boolean; by?: string; store?: string },
    ) => {
      process.exitCode = await approve({ ref, ...o }, { ...io, env: process.env });
    },
  );

program
  .command("install")
  .description(
    "install approved profiles from DIR under a host root (validated, atomic, no symlinks followed)",
  )
  .argument("<dir>", "directory holding the profiles (CR YAML) and their approvals")
  .requiredOption("--root <hostroot>", "host root the profile paths are under (/ on a real node)")
  .addOption(
    new Option("--seccomp-layout <layout>", "kubelet seccomp layout").choices(["namespaced", "cluster"]),
  )
  .option("--kubelet-dir <dir>", "kubelet root (default /var/lib/kubelet)")
  .option("--node <name>", "node name in the status")
  .option("--policy <file>", "cluster-wide seccomp policy (allowedSyscalls, allowedActions)")
  .option("--store <file>", "approval store")
  .option("--state <file>", "install state")
  .action(
    async (
      dir: string,
      o: {
        root: string;
        seccompLayout?: "namespaced" | "cluster";
        kubeletDir?: string;
        node?: string;
        policy?: string;
        store?: string;
        state?: string;
      },
    ) => {
      process.exitCode = await install(
        { dir, ...o },
        { ...io, hostname: hostname(), readFile: (p) => readFile(p, "utf8") },
      );
    },
  );

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`secprof: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
