#!/usr/bin/env node
import { access } from "node:fs/promises";
import { LogsRecorder, RUNC_INIT_COMM } from "@secprof/recorder";
import { Command, Option } from "commander";
import { openInput, parseStream } from "./commands/parse.js";
import { type RecorderName, record } from "./commands/record.js";

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
  .argument("<cmd...>", "the command (after --)")
  .passThroughOptions()
  .action(
    async (
      argv: string[],
      opts: { recorder?: RecorderName; name: string; out: string; for?: "runc"; auditLog: string },
    ) => {
      const logs = (runtimeComm?: string) =>
        new LogsRecorder({ auditLog: opts.auditLog, ...(runtimeComm === undefined ? {} : { runtimeComm }) });
      let interrupts = 0;
      process.exitCode = await record(
        { recorder: opts.recorder ?? "bpf", name: opts.name, out: opts.out, forRuntime: opts.for, argv },
        {
          makeRecorder: (name, inContainer) => {
            if (name === "logs") return logs(inContainer ? RUNC_INIT_COMM : undefined);
            throw new Error("the bpf recorder is not wired yet");
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

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`secprof: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
