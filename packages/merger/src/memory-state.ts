/**
 * ProfileState in process memory: the reference for the contract suite, and the state of local
 * (single-process) recordings. Same semantics as the Redis adapter: every field is a union or a max.
 */
import type { LossCounters, Observation, ProfileState, Target, TargetState } from "@secprof/core";
import { recordingKey } from "@secprof/core";
import {
  buildTargetState,
  hostValue,
  LOSS_FIELDS,
  membersOf,
  targetJson,
  targetOrderKey,
} from "./state-model.js";

interface Entry {
  target: Target;
  order: string;
  syscalls: Set<string>;
  avc: Set<string>;
  apparmor: Set<string>;
  loss: Map<string, LossCounters>;
  recorders: Set<string>;
  hosts: Map<string, string>;
  firstAt: number;
  lastAt: number;
}

export class MemoryProfileState implements ProfileState {
  private readonly recordings = new Map<string, Map<string, Entry>>();

  async apply(obs: Observation): Promise<void> {
    const rk = recordingKey(obs.target);
    let targets = this.recordings.get(rk);
    if (targets === undefined) {
      targets = new Map();
      this.recordings.set(rk, targets);
    }
    const name = obs.target.profileName;
    const order = targetOrderKey(obs, targetJson(obs.target));
    let e = targets.get(name);
    if (e === undefined) {
      e = {
        target: structuredClone(obs.target),
        order,
        syscalls: new Set(),
        avc: new Set(),
        apparmor: new Set(),
        loss: new Map(),
        recorders: new Set(),
        hosts: new Map(),
        firstAt: obs.at,
        lastAt: obs.at,
      };
      targets.set(name, e);
    } else if (order > e.order) {
      e.target = structuredClone(obs.target);
      e.order = order;
    }
    const m = membersOf(obs);
    for (const x of m.syscalls) e.syscalls.add(x);
    for (const x of m.avc) e.avc.add(x);
    for (const x of m.apparmor) e.apparmor.add(x);
    e.recorders.add(obs.recorder);
    const host = hostValue(obs);
    const prevHost = e.hosts.get(obs.recorder);
    if (host !== undefined && (prevHost === undefined || host > prevHost)) e.hosts.set(obs.recorder, host);
    e.firstAt = Math.min(e.firstAt, obs.at);
    e.lastAt = Math.max(e.lastAt, obs.at);
    const prev = e.loss.get(obs.recorder);
    const next = { ...obs.loss };
    if (prev !== undefined) for (const f of LOSS_FIELDS) next[f] = Math.max(prev[f], next[f]);
    e.loss.set(obs.recorder, next);
  }

  async get(rk: string, profileName: string): Promise<TargetState | undefined> {
    const e = this.recordings.get(rk)?.get(profileName);
    return e === undefined ? undefined : toState(e);
  }

  async list(rk: string): Promise<TargetState[]> {
    const targets = this.recordings.get(rk);
    if (targets === undefined) return [];
    return [...targets.keys()].sort().map((k) => toState(targets.get(k) as Entry));
  }

  async remove(rk: string, profileName: string): Promise<void> {
    const targets = this.recordings.get(rk);
    if (targets === undefined) return;
    targets.delete(profileName);
    if (targets.size === 0) this.recordings.delete(rk);
  }
}

function toState(e: Entry): TargetState {
  return buildTargetState({
    target: structuredClone(e.target),
    syscallMembers: e.syscalls,
    avcMembers: e.avc,
    apparmorMembers: e.apparmor,
    loss: e.loss,
    recorders: e.recorders,
    hosts: e.hosts,
    firstAt: e.firstAt,
    lastAt: e.lastAt,
  });
}
