/**
 * {@link Registry} on Redis. Agent records live in a hash, heartbeats in a sorted set scored
 * by server time (so `stale()` is one range query), and every change that emits an event
 * writes it to the outbox stream in the same Lua script.
 */
import {
  type AgentRecord,
  type AgentRegistration,
  cloneJson,
  type LeaderFence,
  type Registry,
  type ReleasedTasks,
} from '@mcpmas/core';
import {
  type Connection,
  checkNamespace,
  closeClient,
  connectionError,
  openConnection,
  type RedisConnectionOptions,
} from '@mcpmas/redis-common';
import { scriptError } from './errors.js';
import { type RegistryKeys, registryKeys } from './keys.js';
import { type LuaScript, loadScript, type RedisClient, type ScriptArg } from './scripts.js';

const scripts = {
  register: loadScript('registerAgent-5'),
  heartbeat: loadScript('heartbeatAgent-4'),
  unregister: loadScript('unregisterAgent-5'),
  evict: loadScript('evictAgent-7'),
  stale: loadScript('staleAgents-1'),
  read: loadScript('readAgents-4'),
};

/** Options of {@link RedisRegistry}. */
export interface RedisRegistryOptions extends RedisConnectionOptions {
  /**
   * Approximate length cap of the event stream the registry appends `agent.*` events to
   * (shared with the queue's outbox); 0 appends no events.
   * @default 10000
   */
  maxEvents?: number;
}

/** The agent registry on Redis. */
export class RedisRegistry implements Registry {
  /** The keys this registry uses. */
  readonly keys: RegistryKeys;
  private readonly connection: Connection;
  private readonly maxEvents: number;

  constructor(options: RedisRegistryOptions = {}) {
    this.keys = registryKeys(checkNamespace(options.namespace ?? 'mcpmas'));
    this.maxEvents = options.maxEvents ?? 10_000;
    this.connection = openConnection(options, 'mcpmas:registry');
  }

  /** The Redis client this registry talks through. */
  get client(): RedisClient {
    return this.connection.client;
  }

  async register(agent: AgentRegistration): Promise<AgentRecord> {
    const stored: Omit<AgentRecord, 'registeredAt' | 'lastHeartbeat'> = {
      id: agent.id,
      name: agent.name,
      skills: cloneJson(agent.skills),
      metadata: cloneJson(agent.metadata ?? {}),
    };
    if (agent.protocol) stored.protocol = agent.protocol;
    const data = JSON.stringify({
      agentId: agent.id,
      name: agent.name,
      skills: agent.skills.map((s) => s.id),
    });
    const [registeredAt, lastHeartbeat] = (await this.run(
      scripts.register,
      [this.keys.agents, this.keys.registeredAt, this.keys.heartbeats, this.keys.load, this.keys.events],
      [agent.id, JSON.stringify(stored), data, this.maxEvents],
    )) as [number, number];
    return { ...stored, registeredAt: Number(registeredAt), lastHeartbeat: Number(lastHeartbeat) };
  }

  async heartbeat(agentId: string, load?: { running: number; capacity: number }): Promise<AgentRecord> {
    const reply = (await this.run(scripts.heartbeat, this.recordKeys(), [
      agentId,
      load ? JSON.stringify({ running: load.running, capacity: load.capacity }) : '',
    ])) as [number, string, string, number, string | null];
    if (reply[0] < 0) throw scriptError(reply[0], { agentId });
    return toRecord(reply[1], reply[2], reply[3], reply[4]);
  }

  async unregister(agentId: string): Promise<boolean> {
    const removed = await this.run(
      scripts.unregister,
      [...this.recordKeys(), this.keys.events],
      [agentId, JSON.stringify({ agentId }), this.maxEvents],
    );
    return removed === 1;
  }

  async get(agentId: string): Promise<AgentRecord | null> {
    return (await this.read([agentId]))[0] ?? null;
  }

  async list(): Promise<AgentRecord[]> {
    return this.read([]);
  }

  async stale(olderThanMs: number): Promise<string[]> {
    return (await this.run(scripts.stale, [this.keys.heartbeats], [olderThanMs])) as string[];
  }

  async evict(
    agentId: string,
    olderThanMs: number,
    released: ReleasedTasks,
    fence?: LeaderFence,
  ): Promise<boolean> {
    const reply = await this.run(
      scripts.evict,
      [...this.recordKeys(), this.keys.events, this.keys.leader, this.keys.epoch],
      [
        agentId,
        olderThanMs,
        JSON.stringify(released.requeued),
        JSON.stringify(released.dead),
        fence?.hubId ?? '',
        fence ? String(fence.epoch) : '',
        this.maxEvents,
      ],
    );
    if (Array.isArray(reply)) throw scriptError(reply[0] as number, { agentId, ...(fence ? { fence } : {}) });
    return reply === 1;
  }

  async now(): Promise<number> {
    try {
      const [seconds, micros] = await this.connection.client.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    } catch (error) {
      throw connectionError(error);
    }
  }

  /** Closes the connection if this registry opened it. */
  async close(): Promise<void> {
    if (this.connection.owned) await closeClient(this.connection.client);
  }

  private recordKeys(): string[] {
    return [this.keys.agents, this.keys.registeredAt, this.keys.heartbeats, this.keys.load];
  }

  private async read(ids: string[]): Promise<AgentRecord[]> {
    const flat = (await this.run(scripts.read, this.recordKeys(), ids)) as Array<string | null>;
    const out: AgentRecord[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      out.push(toRecord(flat[i]!, flat[i + 1]!, flat[i + 2]!, flat[i + 3] ?? null));
    }
    return out;
  }

  private async run(script: LuaScript, keys: string[], args: ScriptArg[]): Promise<unknown> {
    try {
      return await script.run(this.connection.client, keys, args);
    } catch (error) {
      throw connectionError(error);
    }
  }
}

function toRecord(
  json: string,
  registeredAt: string | number,
  lastHeartbeat: string | number,
  load: string | null,
): AgentRecord {
  const record = JSON.parse(json) as AgentRecord;
  record.registeredAt = Number(registeredAt);
  record.lastHeartbeat = Number(lastHeartbeat);
  if (load) record.load = JSON.parse(load) as { running: number; capacity: number };
  return record;
}
