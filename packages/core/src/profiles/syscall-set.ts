import { ARCH_NAMES, type ArchName } from "../syscalls/index.js";

/** Syscall names seen per arch. Only ever grows, so merging is a set union. */
export class SyscallSet {
  private readonly byArch = new Map<ArchName, Set<string>>();

  add(arch: ArchName, name: string): boolean {
    let s = this.byArch.get(arch);
    if (s === undefined) {
      s = new Set();
      this.byArch.set(arch, s);
    }
    if (s.has(name)) return false;
    s.add(name);
    return true;
  }

  addAll(other: SyscallSet): void {
    for (const [arch, names] of other.byArch) for (const n of names) this.add(arch, n);
  }

  has(arch: ArchName, name: string): boolean {
    return this.byArch.get(arch)?.has(name) ?? false;
  }

  /** Arches with at least one syscall, in the canonical arch order. */
  arches(): ArchName[] {
    return ARCH_NAMES.filter((a) => (this.byArch.get(a)?.size ?? 0) > 0);
  }

  names(arch?: ArchName): string[] {
    if (arch !== undefined) return [...(this.byArch.get(arch) ?? [])].sort();
    const all = new Set<string>();
    for (const s of this.byArch.values()) for (const n of s) all.add(n);
    return [...all].sort();
  }

  get size(): number {
    let n = 0;
    for (const s of this.byArch.values()) n += s.size;
    return n;
  }

  toJSON(): Partial<Record<ArchName, string[]>> {
    const out: Partial<Record<ArchName, string[]>> = {};
    for (const a of this.arches()) out[a] = this.names(a);
    return out;
  }

  static union(...sets: SyscallSet[]): SyscallSet {
    const out = new SyscallSet();
    for (const s of sets) out.addAll(s);
    return out;
  }

  static fromJSON(json: Partial<Record<ArchName, readonly string[]>>): SyscallSet {
    const s = new SyscallSet();
    for (const a of ARCH_NAMES) for (const n of json[a] ?? []) s.add(a, n);
    return s;
  }
}
