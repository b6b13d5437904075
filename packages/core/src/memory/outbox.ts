/** In-memory {@link EventOutbox}: durable for the life of the process only. */
import type { EventOutbox, HubEvent, HubEventType, LeaderFence } from '../interfaces.js';
import type { FenceCheck } from './elector.js';

/** Options of {@link MemoryOutbox}. */
export interface MemoryOutboxOptions {
  clock?: () => number;
  fenceCheck?: FenceCheck;
  /**
   * Most events kept; past it the oldest are dropped even if a channel has not acknowledged
   * them (memory must stay bounded). @default 10000
   */
  maxEvents?: number;
}

/** The embedded outbox. Event ids are zero-padded sequence numbers, so they sort in order. */
export class MemoryOutbox implements EventOutbox {
  private events: HubEvent[] = [];
  private readonly acked = new Map<string, Set<string>>();
  private seq = 0;
  private readonly clock: () => number;
  private readonly maxEvents: number;

  constructor(private readonly options: MemoryOutboxOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.maxEvents = options.maxEvents ?? 10_000;
  }

  async append(type: HubEventType, data: Record<string, unknown>, fence?: LeaderFence): Promise<HubEvent> {
    this.options.fenceCheck?.(fence);
    const event: HubEvent = { id: String(++this.seq).padStart(12, '0'), type, at: this.clock(), data };
    this.events.push(event);
    if (this.events.length > this.maxEvents) {
      const dropped = this.events.splice(0, this.events.length - this.maxEvents);
      for (const set of this.acked.values()) for (const e of dropped) set.delete(e.id);
    }
    return event;
  }

  async read(channel: string, max: number): Promise<HubEvent[]> {
    const acked = this.channel(channel);
    const out: HubEvent[] = [];
    for (const event of this.events) {
      if (out.length >= max) break;
      if (!acked.has(event.id)) out.push(event);
    }
    return out;
  }

  async ack(channel: string, eventIds: string[]): Promise<void> {
    const acked = this.channel(channel);
    for (const id of eventIds) acked.add(id);
  }

  async pending(channel: string): Promise<number> {
    const acked = this.channel(channel);
    return this.events.filter((e) => !acked.has(e.id)).length;
  }

  async close(): Promise<void> {}

  private channel(name: string): Set<string> {
    let set = this.acked.get(name);
    if (!set) {
      set = new Set();
      this.acked.set(name, set);
    }
    return set;
  }
}
