import { type ArchName, isArchName } from "./arch.js";
import { SYSCALL_TABLES } from "./tables.generated.js";

export {
  ARCH_NAMES,
  type ArchInfo,
  type ArchName,
  archFromAudit,
  archFromScmp,
  archInfo,
  type ScmpArch,
  scmpArchOf,
} from "./arch.js";

interface Table {
  readonly byNr: ReadonlyMap<number, string>;
  readonly byName: ReadonlyMap<string, number>;
  readonly sortedNames: readonly string[];
}

const tables = new Map<ArchName, Table>();

/** Decodes an arch's generated table once, on first use. */
function table(arch: ArchName): Table | undefined {
  const cached = tables.get(arch);
  if (cached !== undefined) return cached;
  if (!isArchName(arch)) return undefined;
  const byNr = new Map<number, string>();
  const byName = new Map<string, number>();
  for (const [base, lines] of SYSCALL_TABLES[arch]) {
    let nr = base;
    for (const line of lines) {
      for (const name of line.split(" ")) {
        if (name !== "-") {
          byNr.set(nr, name);
          byName.set(name, nr);
        }
        nr++;
      }
    }
  }
  const t: Table = { byNr, byName, sortedNames: Object.freeze([...byName.keys()].sort()) };
  tables.set(arch, t);
  return t;
}

/** Syscall name for `nr` as the kernel reports it (x32: with the 0x40000000 bit set). */
export function syscallName(arch: ArchName, nr: number): string | undefined {
  return table(arch)?.byNr.get(nr);
}

/** Syscall number as the kernel reports it (x32: with the 0x40000000 bit set). */
export function syscallNumber(arch: ArchName, name: string): number | undefined {
  return table(arch)?.byName.get(name);
}

export function isKnownSyscall(arch: ArchName, name: string): boolean {
  return table(arch)?.byName.has(name) ?? false;
}

/** All syscall names of an arch, sorted. */
export function syscallNames(arch: ArchName): readonly string[] {
  const t = table(arch);
  if (t === undefined) throw new TypeError(`unknown arch: ${String(arch)}`);
  return t.sortedNames;
}
