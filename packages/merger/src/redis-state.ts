/**
 * ProfileState on Redis. Every fact is a set member and every scalar a min/max, so `apply` is a
 * join: applying an observation twice, or observations in any order, gives the same state, and a
 * worker that crashes mid-apply and is re-run converges. One Lua script per observation makes the
 * apply atomic (no half-applied state is ever visible) and costs one round trip.
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

const APPLY_LUA = `
local function saddAll(key, from, n)
  local last = from + n - 1
  local i = from
  while i <= last do
    local j = math.min(i + 999, last)
    redis.call('SADD', key, unpack(ARGV, i, j))
    i = j + 1
  end
end
redis.call('SADD', KEYS[1], ARGV[1])
local meta = redis.call('HMGET', KEYS[2], 'order', 'firstAt', 'lastAt')
if (not meta[1]) or meta[1] < ARGV[3] then
  redis.call('HSET', KEYS[2], 'order', ARGV[3], 'target', ARGV[2])
end
local at = tonumber(ARGV[4])
if (not meta[2]) or tonumber(meta[2]) > at then redis.call('HSET', KEYS[2], 'firstAt', ARGV[4]) end
if (not meta[3]) or tonumber(meta[3]) < at then redis.call('HSET', KEYS[2], 'lastAt', ARGV[4]) end
redis.call('SADD', KEYS[7], ARGV[5])
local fields = {'kernelLost', 'parserDropped', 'attributionMisses', 'truncated'}
local cur = redis.call('HMGET', KEYS[6], fields[1] .. ':' .. ARGV[5], fields[2] .. ':' .. ARGV[5],
  fields[3] .. ':' .. ARGV[5], fields[4] .. ':' .. ARGV[5])
for k = 1, 4 do
  local v = tonumber(ARGV[5 + k])
  if (not cur[k]) or tonumber(cur[k]) < v then
    redis.call('HSET', KEYS[6], fields[k] .. ':' .. ARGV[5], ARGV[5 + k])
  end
end
if ARGV[13] ~= '' then
  local h = redis.call('HGET', KEYS[8], ARGV[5])
  if (not h) or h < ARGV[13] then redis.call('HSET', KEYS[8], ARGV[5], ARGV[13]) end
end
local nSc = tonumber(ARGV[10])
local nAvc = tonumber(ARGV[11])
local nAa = tonumber(ARGV[12])
local p = 14
if nSc > 0 then saddAll(KEYS[3], p, nSc) end
p = p + nSc
if nAvc > 0 then saddAll(KEYS[4], p, nAvc) end
p = p + nAvc
if nAa > 0 then saddAll(KEYS[5], p, nAa) end
return 1
`;
const APPLY_SHA = createHash("sha1").update(APPLY_LUA).digest("hex");
/** Deltas with at most this many members are applied inside the script. */
const INLINE_MEMBERS = 64;
const SADD_CHUNK = 10_000;

export interface RedisProfileStateOptions {
  /** Key prefix (default `secprof`); tests use a random one to isolate runs. */
  prefix?: string;
}

type Client = Redis | Cluster;

export class RedisProfileState implements ProfileState {
  private readonly prefix: string;

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
    const k = this.keys(recordingKey(obs.target), obs.target.profileName);
    const json = targetJson(obs.target);
    const m = membersOf(obs);
    // Small deltas ride inside the script (one command); large ones go as variadic SADDs first,
    // which Redis runs ~2× faster than Lua's unpack. Either way the state only ever grows, so a
    // crash between the two leaves nothing a re-run does not fix.
    const inline = m.syscalls.length + m.avc.length + m.apparmor.length <= INLINE_MEMBERS;
    const sadds: Promise<unknown>[] = [];
    if (!inline) {
      for (const [key, members] of [
        [k.sc, m.syscalls],
        [k.avc, m.avc],
        [k.aa, m.apparmor],
      ] as const)
        for (let i = 0; i < members.length; i += SADD_CHUNK)
          sadds.push(this.redis.sadd(key, ...members.slice(i, i + SADD_CHUNK)));
    }
    const args: (string | number)[] = [
      obs.target.profileName,
      json,
      targetOrderKey(obs, json),
      obs.at,
      obs.recorder,
      obs.loss.kernelLost,
      obs.loss.parserDropped,
      obs.loss.attributionMisses,
      obs.loss.truncated,
    ];
    if (inline) args.push(m.syscalls.length, m.avc.length, m.apparmor.length);
    else args.push(0, 0, 0);
    args.push(hostValue(obs) ?? "");
    if (inline) args.push(...m.syscalls, ...m.avc, ...m.apparmor);
    const keys = [k.targets, k.meta, k.sc, k.avc, k.aa, k.loss, k.rec, k.host];
    const script = this.redis
      .evalsha(APPLY_SHA, keys.length, ...keys, ...args)
      .catch(async (err: unknown) => {
        if (!String(err).includes("NOSCRIPT")) throw err;
        return this.redis.eval(APPLY_LUA, keys.length, ...keys, ...args);
      });
    await Promise.all([...sadds, script]);
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
