#!/usr/bin/env node
import { access } from "node:fs/promises";
import { Command, Option } from "commander";
import { openInput, parseStream } from "./commands/parse.js";

// Composition root: the only place that reads process state and wires commands to real I/O.
const program = new Command("secprof").description(
  "record what workloads do; build seccomp, SELinux and AppArmor profiles",
);

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

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`secprof: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
