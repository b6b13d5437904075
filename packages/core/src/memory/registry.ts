/** In-memory {@link Registry}. */
import { NotFoundError } from '../errors.js';
import type {
  AgentRecord,
  AgentRegistration,
  EventOutbox,
  LeaderFence,
  Registry,
  ReleasedTasks,
} from '../interfaces.js';
import { cloneJson } from '../util.js';
import type { FenceCheck } from './elector.js';

/** Options of {@link MemoryRegistry}. */
export interface MemoryRegistryOptions {
  outbox?: EventOutbox;
  clock?: () => number;
  fenceCheck?: FenceCheck;
}

/** The embedded in-memory agent registry. */
export class MemoryRegistry implements Registry {
  private readonly agents = new Map<string, AgentRecord>();
  private readonly clock: () => number;

  constructor(private readonly options: MemoryRegistryOptions = {}) {
    this.clock = options.clock ?? Date.now;
  }

  async register(agent: AgentRegistration): Promise<AgentRecord> {
    const now = this.clock();
    const existing = this.agents.get(agent.id);
    const record: AgentRecord = {
      id: agent.id,
      name: agent.name,
      skills: cloneJson(agent.skills),
      metadata: cloneJson(agent.metadata ?? {}),
      registeredAt: existing?.registeredAt ?? now,
      lastHeartbeat: now,
    };
    if (agent.protocol) record.protocol = agent.protocol;
    this.agents.set(agent.id, record);
    void this.options.outbox?.append('agent.registered', {
      agentId: agent.id,
      name: agent.name,
      skills: agent.skills.map((s) => s.id),
      refreshed: existing !== undefined,
    });
    return cloneJson(record);
  }

  async heartbeat(agentId: string, load?: { running: number; capacity: number }): Promise<AgentRecord> {
    const record = this.agents.get(agentId);
    if (!record)
      throw new NotFoundError(`unknown agent ${agentId}; register first`, { details: { agentId } });
    record.lastHeartbeat = this.clock();
    if (load) record.load = { ...load };
    return cloneJson(record);
  }

  async unregister(agentId: string): Promise<boolean> {
    const existed = this.agents.delete(agentId);
    if (existed) void this.options.outbox?.append('agent.unregistered', { agentId });
    return existed;
  }

  async get(agentId: string): Promise<AgentRecord | null> {
    const record = this.agents.get(agentId);
    return record ? cloneJson(record) : null;
  }

  async list(): Promise<AgentRecord[]> {
    return [...this.agents.values()].map((r) => cloneJson(r));
  }

  async stale(olderThanMs: number): Promise<string[]> {
    const cutoff = this.clock() - olderThanMs;
    const out: string[] = [];
    for (const record of this.agents.values()) if (record.lastHeartbeat <= cutoff) out.push(record.id);
    return out;
  }

  async evict(
    agentId: string,
    olderThanMs: number,
    released: ReleasedTasks,
    fence?: LeaderFence,
  ): Promise<boolean> {
    return this.evictNow(agentId, olderThanMs, () => released, fence) !== null;
  }

  /**
   * {@link MemoryRegistry.evict}, synchronously: when the agent is still stale, `release`
   * runs (it returns what happened to the agent's tasks), then the agent is removed and
   * `agent.evicted` appended — all in one step, which is how the memory backend makes
   * `Backend.evictAgent` atomic. `release` is not called when the agent is not evicted.
   */
  evictNow(
    agentId: string,
    olderThanMs: number,
    release: () => ReleasedTasks,
    fence?: LeaderFence,
  ): ReleasedTasks | null {
    this.options.fenceCheck?.(fence);
    const record = this.agents.get(agentId);
    if (!record || record.lastHeartbeat > this.clock() - olderThanMs) return null;
    const released = release();
    this.agents.delete(agentId);
    void this.options.outbox?.append('agent.evicted', {
      agentId,
      name: record.name,
      lastHeartbeat: record.lastHeartbeat,
      requeued: released.requeued,
      dead: released.dead,
    });
    return released;
  }

  async now(): Promise<number> {
    return this.clock();
  }

  async close(): Promise<void> {}
}
