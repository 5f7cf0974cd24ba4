/**
 * ProfileState on Redis. Every fact is a set member and every scalar a min/max, so `apply` is a
 * join: applying an observation twice, or observations in any order, gives the same state, and a
 * worker that crashes mid-apply and is re-run converges. A Lua script makes each apply atomic (no
 * half-applied state is ever visible). Applies of one recording started in the same tick (a batch
 * job's observations, concurrent jobs) share one script call: per-command costs on both sides
 * (ioredis's command objects, Lua's entry, replies) were most of the merger's CPU per small delta.
 *
 * Keys of one recording share the hash tag `{rec:<namespace>/<recording>}`, so the script and the
 * multi-key reads run unchanged on a Redis Cluster:
 *
 *   <p>:{rec:<ns>/<rec>}:targets          SET  profile names
 *   <p>:{rec:<ns>/<rec>}:t:<name>:meta    HASH target (JSON), order, firstAt, lastAt
 *   <p>:{rec:<ns>/<rec>}:t:<name>:sc      SET  `<arch>/<syscall>`
 *   <p>:{rec:<ns>/<rec>}:t:<name>:avc     SET  canonical JSON of AVC tuples
 *   <p>:{rec:<ns>/<rec>}:t:<name>:aa      SET  `<x|r|w|c|n>:<value>` AppArmor facts
 *   <p>:{rec:<ns>/<rec>}:t:<name>:loss    HASH `<counter>:<recorder>` → max cumulative value
 *   <p>:{rec:<ns>/<rec>}:t:<name>:rec     SET  recorders
 *   <p>:{rec:<ns>/<rec>}:t:<name>:host    HASH recorder → its node's facts (`hostValue`; greatest wins)
 */
import { createHash } from "node:crypto";
import type { LossCounters, Observation, ProfileState, Target, TargetState } from "@secprof/core";
import { recordingKey, Target as TargetSchema } from "@secprof/core";
import type { Cluster, Redis } from "ioredis";
import {
  buildTargetState,
  hostValue,
  LOSS_FIELDS,
  type LossField,
  membersOf,
  targetJson,
  targetOrderKey,
} from "./state-model.js";

/**
 * Applies a group of observations of one recording. KEYS[1] is the recording's target set, then 7
 * keys per observation (meta, sc, avc, aa, loss, rec, host); ARGV[1] is a JSON array with one entry
 * per observation (see `apply`). Each observation is applied as if it came alone. One JSON argument
 * instead of ~20 per observation: ioredis's per-argument work was the merger's largest cost after
 * BullMQ, and Redis decodes it as fast as it parses the arguments.
 */
const APPLY_LUA = `
local function saddAll(key, list)
  local last = #list
  local i = 1
  while i <= last do
    local j = math.min(i + 999, last)
    redis.call('SADD', key, unpack(list, i, j))
    i = j + 1
  end
end
local fields = {'kernelLost', 'parserDropped', 'attributionMisses', 'truncated'}
local k = 1
for _, o in ipairs(cjson.decode(ARGV[1])) do
  local rec = o[5]
  redis.call('SADD', KEYS[1], o[1])
  local meta = redis.call('HMGET', KEYS[k + 1], 'order', 'firstAt', 'lastAt')
  if (not meta[1]) or meta[1] < o[3] then
    redis.call('HSET', KEYS[k + 1], 'order', o[3], 'target', o[2])
  end
  local at = tonumber(o[4])
  if (not meta[2]) or tonumber(meta[2]) > at then redis.call('HSET', KEYS[k + 1], 'firstAt', o[4]) end
  if (not meta[3]) or tonumber(meta[3]) < at then redis.call('HSET', KEYS[k + 1], 'lastAt', o[4]) end
  redis.call('SADD', KEYS[k + 6], rec)
  local cur = redis.call('HMGET', KEYS[k + 5], fields[1] .. ':' .. rec, fields[2] .. ':' .. rec,
    fields[3] .. ':' .. rec, fields[4] .. ':' .. rec)
  for f = 1, 4 do
    local v = tonumber(o[5 + f])
    if (not cur[f]) or tonumber(cur[f]) < v then
      redis.call('HSET', KEYS[k + 5], fields[f] .. ':' .. rec, o[5 + f])
    end
  end
  if o[10] ~= '' then
    local h = redis.call('HGET', KEYS[k + 7], rec)
    if (not h) or h < o[10] then redis.call('HSET', KEYS[k + 7], rec, o[10]) end
  end
  saddAll(KEYS[k + 2], o[11])
  saddAll(KEYS[k + 3], o[12])
  saddAll(KEYS[k + 4], o[13])
  k = k + 7
end
return 1
`;
const APPLY_SHA = createHash("sha1").update(APPLY_LUA).digest("hex");
/** Deltas with at most this many members are applied inside the script. */
const INLINE_MEMBERS = 64;
const SADD_CHUNK = 10_000;
/**
 * Observations per script call at most: one call keeps Redis busy for all of them (~15 µs each), so
 * the bound keeps other clients' latency low.
 */
const GROUP_MAX = 256;

/** Applies of one recording waiting for the same script call. */
interface ApplyGroup {
  keys: string[];
  items: unknown[];
  size: number;
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * JSON for the script. JSON.stringify writes a lone surrogate as `\ud800`, which Redis's cjson
 * rejects: one such string (zod lets it through) would fail its whole group on every retry. It
 * becomes U+FFFD, as ioredis writes it in a plain argument. Escaped backslashes are matched as
 * pairs, so a literal `\ud800` text stays as it is.
 */
function luaJson(items: unknown): string {
  const json = JSON.stringify(items);
  return json.includes("\\ud")
    ? json.replace(LONE_SURROGATE, (m, e: string) => (e === "\\" ? m : "\\ufffd"))
    : json;
}
const LONE_SURROGATE = /\\(\\|ud[89a-f][0-9a-f]{2})/g;

export interface RedisProfileStateOptions {
  /** Key prefix (default `secprof`); tests use a random one to isolate runs. */
  prefix?: string;
}

type Client = Redis | Cluster;

export class RedisProfileState implements ProfileState {
  private readonly prefix: string;
  /** Open groups by recording prefix; all are sent on the next tick (or when full). */
  private readonly groups = new Map<string, ApplyGroup>();

  constructor(
    private readonly redis: Client,
    opts: RedisProfileStateOptions = {},
  ) {
    this.prefix = opts.prefix ?? "secprof";
  }

  /** `<prefix>:{rec:<ns>/<recording>}`: the hash tag shared by all keys of one recording. */
  recordingPrefix(rk: string): string {
    return `${this.prefix}:{rec:${rk}}`;
  }

  private keys(rk: string, profileName: string) {
    const r = this.recordingPrefix(rk);
    const t = `${r}:t:${profileName}`;
    return {
      targets: `${r}:targets`,
      meta: `${t}:meta`,
      sc: `${t}:sc`,
      avc: `${t}:avc`,
      aa: `${t}:aa`,
      loss: `${t}:loss`,
      rec: `${t}:rec`,
      host: `${t}:host`,
    };
  }

  async apply(obs: Observation): Promise<void> {
    const rp = this.recordingPrefix(recordingKey(obs.target));
    const t = `${rp}:t:${obs.target.profileName}`;
    const m = membersOf(obs);
    // Small deltas ride inside the script; large ones go as variadic SADDs first, which Redis runs
    // ~2× faster than Lua's unpack. Either way the state only ever grows, so a crash between the
    // two leaves nothing a re-run does not fix.
    const inline = m.syscalls.length + m.avc.length + m.apparmor.length <= INLINE_MEMBERS;
    const sadds: Promise<unknown>[] = [];
    if (!inline) {
      for (const [key, members] of [
        [`${t}:sc`, m.syscalls],
        [`${t}:avc`, m.avc],
        [`${t}:aa`, m.apparmor],
      ] as const)
        for (let i = 0; i < members.length; i += SADD_CHUNK)
          sadds.push(this.redis.sadd(key, ...members.slice(i, i + SADD_CHUNK)));
    }
    const g = this.group(rp);
    g.keys.push(`${t}:meta`, `${t}:sc`, `${t}:avc`, `${t}:aa`, `${t}:loss`, `${t}:rec`, `${t}:host`);
    const json = targetJson(obs.target);
    const { loss } = obs;
    // Numbers as strings: Lua's cjson would turn them into doubles and write them back as `1.7e+12`.
    g.items.push([
      obs.target.profileName,
      json,
      targetOrderKey(obs, json),
      String(obs.at),
      obs.recorder,
      String(loss.kernelLost),
      String(loss.parserDropped),
      String(loss.attributionMisses),
      String(loss.truncated),
      hostValue(obs) ?? "",
      inline ? m.syscalls : [],
      inline ? m.avc : [],
      inline ? m.apparmor : [],
    ]);
    g.size++;
    const done = g.done;
    if (g.size >= GROUP_MAX) this.send(rp, g);
    if (sadds.length === 0) return done;
    await Promise.all([...sadds, done]);
  }

  /** The open group of this recording; the first apply of a tick schedules the send of them all. */
  private group(rp: string): ApplyGroup {
    const open = this.groups.get(rp);
    if (open !== undefined) return open;
    let resolve: () => void = () => undefined;
    let reject: (err: unknown) => void = () => undefined;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const g: ApplyGroup = { keys: [`${rp}:targets`], items: [], size: 0, done, resolve, reject };
    this.groups.set(rp, g);
    // nextTick runs after the promise jobs of this tick: every apply they start joins the group.
    if (this.groups.size === 1) process.nextTick(() => this.sendAll());
    return g;
  }

  private sendAll(): void {
    for (const [rp, g] of this.groups) this.send(rp, g);
  }

  private send(rp: string, g: ApplyGroup): void {
    if (this.groups.get(rp) === g) this.groups.delete(rp);
    const { keys } = g;
    const args = luaJson(g.items);
    this.redis
      .evalsha(APPLY_SHA, keys.length, ...keys, args)
      .catch((err: unknown) => {
        if (!String(err).includes("NOSCRIPT")) throw err;
        return this.redis.eval(APPLY_LUA, keys.length, ...keys, args);
      })
      .then(() => g.resolve(), g.reject);
  }

  async get(rk: string, profileName: string): Promise<TargetState | undefined> {
    const [state] = await this.read(rk, [profileName]);
    return state;
  }

  async list(rk: string): Promise<TargetState[]> {
    const names = (await this.redis.smembers(`${this.recordingPrefix(rk)}:targets`)).sort();
    const states = await this.read(rk, names);
    return states.filter((s): s is TargetState => s !== undefined);
  }

  async remove(rk: string, profileName: string): Promise<void> {
    const k = this.keys(rk, profileName);
    await this.redis
      .multi()
      .del(k.meta, k.sc, k.avc, k.aa, k.loss, k.rec, k.host)
      .srem(k.targets, profileName)
      .exec();
  }

  /** Reads several targets of one recording in one atomic MULTI (one slot, one round trip). */
  private async read(rk: string, names: readonly string[]): Promise<(TargetState | undefined)[]> {
    if (names.length === 0) return [];
    const tx = this.redis.multi();
    for (const n of names) {
      const k = this.keys(rk, n);
      tx.hgetall(k.meta)
        .smembers(k.sc)
        .smembers(k.avc)
        .smembers(k.aa)
        .hgetall(k.loss)
        .smembers(k.rec)
        .hgetall(k.host);
    }
    const res = await tx.exec();
    if (res === null) throw new Error("redis transaction aborted");
    const out: (TargetState | undefined)[] = [];
    for (let i = 0; i < names.length; i++) {
      const part = res.slice(i * FIELDS, i * FIELDS + FIELDS).map(([err, v]) => {
        if (err !== null) throw err;
        return v;
      });
      out.push(decode(part));
    }
    return out;
  }
}

/** Replies per target in `read`. */
const FIELDS = 7;

function decode([meta, sc, avc, aa, loss, rec, host]: unknown[]): TargetState | undefined {
  const m = meta as Record<string, string>;
  if (m.target === undefined) return undefined;
  const target: Target = TargetSchema.parse(JSON.parse(m.target));
  const byRecorder = new Map<string, LossCounters>();
  for (const [field, value] of Object.entries(loss as Record<string, string>)) {
    const i = field.indexOf(":");
    const name = field.slice(0, i) as LossField;
    if (i < 0 || !LOSS_FIELDS.includes(name)) continue;
    const recorder = field.slice(i + 1);
    let c = byRecorder.get(recorder);
    if (c === undefined) {
      c = { kernelLost: 0, parserDropped: 0, attributionMisses: 0, truncated: 0 };
      byRecorder.set(recorder, c);
    }
    c[name] = Number(value);
  }
  return buildTargetState({
    target,
    syscallMembers: sc as string[],
    avcMembers: avc as string[],
    apparmorMembers: aa as string[],
    loss: byRecorder,
    recorders: rec as string[],
    hosts: new Map(Object.entries(host as Record<string, string>)),
    firstAt: Number(m.firstAt ?? 0),
    lastAt: Number(m.lastAt ?? 0),
  });
}

/**
 * BullMQ's only safe eviction policy is `noeviction` (an evicted set member would silently shrink a
 * profile). Call at start-up; throws otherwise.
 */
export async function assertNoEviction(redis: Client): Promise<void> {
  const info = await redis.info("memory");
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy !== undefined && policy !== "noeviction")
    throw new Error(
      `Redis maxmemory-policy is "${policy}"; secprof needs "noeviction" (an evicted key loses recorded facts)`,
    );
}
