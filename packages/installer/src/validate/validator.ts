import type { PolicyKind, ValidationResult, Validator } from "../kernel.js";
import { type AppArmorParserOptions, compileAppArmor } from "./apparmor-parser.js";
import {
  compileCil,
  prepareSelinuxStore,
  type SelinuxStore,
  type SelinuxStoreOptions,
} from "./selinux-compile.js";

export interface PolicyCompilersOptions {
  apparmor?: Omit<AppArmorParserOptions, "expectProfile">;
  /** How to prepare the private SELinux store (prepared on the first SELinux validation). */
  selinux?: SelinuxStoreOptions;
}

/**
 * The installer's `Validator` backed by the real compilers: AppArmor text through
 * `apparmor_parser` offline (it must define exactly the profile it is named after), SELinux CIL
 * through `semodule` in a private copy of the reference policy store (prepared once, shared by
 * every later validation). Nothing is loaded and the machine's own policy store is not touched.
 */
export class PolicyCompilers implements Validator {
  private store: Promise<SelinuxStore> | undefined;

  constructor(private readonly opts: PolicyCompilersOptions = {}) {}

  async validate(kind: PolicyKind, name: string, text: string): Promise<ValidationResult> {
    if (kind === "AppArmorProfile") {
      const r = await compileAppArmor(text, { ...this.opts.apparmor, expectProfile: name });
      return r.ok ? (r.warnings.length > 0 ? { ok: true, warnings: r.warnings } : { ok: true }) : r;
    }
    this.store ??= prepareSelinuxStore(this.opts.selinux);
    let store: SelinuxStore;
    try {
      store = await this.store;
    } catch (err) {
      this.store = undefined;
      return { ok: false, message: err instanceof Error ? err.message : String(err) };
    }
    try {
      const r = await compileCil(store, [{ name, cil: text }]);
      return r.ok ? { ok: true } : { ok: false, message: r.message };
    } catch (err) {
      return { ok: false, message: err instanceof Error ? err.message : String(err) };
    }
  }

  async dispose(): Promise<void> {
    const s = this.store;
    this.store = undefined;
    if (s !== undefined) await (await s.catch(() => undefined))?.dispose();
  }
}
