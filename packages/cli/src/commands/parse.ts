import { createReadStream } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { AuditParser, type InputFormat, LineSplitter, type ParsedEvent, type RawEvent } from "@secprof/core";

/** The NDJSON shape of one event: the line number first, then the event's own fields. */
function ndjson(p: ParsedEvent): string {
  const { event } = p;
  const common = {
    line: p.line,
    kind: event.kind,
    source: event.source,
    auditId: event.auditId,
    pid: event.pid,
    comm: event.comm,
    exe: event.exe,
    ses: event.ses,
  };
  return JSON.stringify({ ...common, ...details(event) });
}

function details(e: RawEvent): Record<string, unknown> {
  switch (e.kind) {
    case "syscall":
      return { arch: e.arch, nr: e.nr, name: e.name, action: e.action };
    case "avc":
      return {
        denied: e.denied,
        perms: e.perms,
        tclass: e.tclass,
        scontext: e.scontext,
        tcontext: e.tcontext,
        permissive: e.permissive,
        userSpace: e.userSpace,
      };
    case "apparmor":
      return {
        apparmor: e.apparmor,
        operation: e.operation,
        profile: e.profile,
        name: e.name,
        requestedMask: e.requestedMask,
        deniedMask: e.deniedMask,
        capname: e.capname,
        family: e.family,
        sockType: e.sockType,
        protocol: e.protocol,
      };
    default:
      return {};
  }
}

export interface ParseIo {
  input: Readable;
  stdout: Writable;
  stderr: Writable;
}

/** Streams `input` through the parser, writing NDJSON; resolves with the parser's stats. */
export async function parseStream(io: ParseIo, format: InputFormat, stats: boolean): Promise<void> {
  const parser = new AuditParser({ format });
  const splitter = new LineSplitter();
  const out: ParsedEvent[] = [];
  let lineNo = 0;
  const onLine = (line: string) => {
    lineNo++;
    parser.push(line, lineNo, out);
  };
  const drain = async () => {
    if (out.length === 0) return;
    const text = `${out.map(ndjson).join("\n")}\n`;
    out.length = 0;
    if (!io.stdout.write(text)) await new Promise<void>((r) => io.stdout.once("drain", () => r()));
  };
  for await (const chunk of io.input) {
    for (const line of splitter.push(
      typeof chunk === "string" ? chunk : (chunk as Buffer).toString("latin1"),
    ))
      onLine(line);
    await drain();
  }
  for (const line of splitter.finish()) onLine(line);
  parser.flush(out);
  await drain();
  if (stats) {
    const s = parser.stats;
    io.stderr.write(
      `${JSON.stringify({ lines: lineNo, events: s.events, dropped: { ...s.dropped, too_long: s.dropped.too_long + splitter.dropped }, ignored: s.ignored, incomplete: s.incomplete })}\n`,
    );
  }
}

export function openInput(file: string | undefined, stdin: Readable): Readable {
  return file === undefined || file === "-" ? stdin : createReadStream(file, { highWaterMark: 1 << 20 });
}
