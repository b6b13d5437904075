/**
 * {@link EventOutbox} on Redis: one stream holds the events (written by the queue and
 * registry scripts in the same step as the change they report); each notifier channel is a
 * consumer group, so every channel gets every event until it acknowledges it, and an event
 * read but not acknowledged (a crash mid-delivery) is delivered again.
 */
import type { EventOutbox, HubEvent, HubEventType, LeaderFence } from '@mcpmas/core';
import {
  type Connection,
  checkNamespace,
  closeClient,
  connectionError,
  openConnection,
  type RedisConnectionOptions,
} from '@mcpmas/redis-common';
import { scriptError } from './errors.js';
import { type QueueKeys, queueKeys } from './keys.js';
import { type LuaScript, loadScript, type RedisClient, type ScriptArg } from './scripts.js';

const scripts = {
  append: loadScript('appendEvent-3'),
  read: loadScript('readEvents-1'),
  pending: loadScript('pendingEvents-1'),
};

/** Options of {@link RedisOutbox}. */
export interface RedisOutboxOptions extends RedisConnectionOptions {
  /** Approximate length cap of the event stream. @default 10000 */
  maxEvents?: number;
}

/**
 * Event ids are stream ids with both parts zero-padded (`<ms:15>-<seq:10>`), so they sort as
 * strings in the order they were appended.
 */
export function eventIdFromStreamId(streamId: string): string {
  const [ms = '0', seq = '0'] = streamId.split('-');
  return `${ms.padStart(15, '0')}-${seq.padStart(10, '0')}`;
}

/** The stream id behind an event id. */
export function streamIdFromEventId(eventId: string): string {
  const [ms = '0', seq = '0'] = eventId.split('-');
  return `${BigInt(ms)}-${BigInt(seq)}`;
}

/** The durable event outbox on a Redis stream. */
export class RedisOutbox implements EventOutbox {
  /** The keys this outbox uses (`events`, `leader`, `epoch`). */
  readonly keys: QueueKeys;
  private readonly connection: Connection;
  private readonly maxEvents: number;

  constructor(options: RedisOutboxOptions = {}) {
    this.keys = queueKeys(checkNamespace(options.namespace ?? 'mcpmas'));
    this.maxEvents = options.maxEvents ?? 10_000;
    this.connection = openConnection(options, 'mcpmas:outbox');
  }

  /** The Redis client this outbox talks through. */
  get client(): RedisClient {
    return this.connection.client;
  }

  async append(type: HubEventType, data: Record<string, unknown>, fence?: LeaderFence): Promise<HubEvent> {
    const reply = (await this.run(
      scripts.append,
      [this.keys.events, this.keys.leader, this.keys.epoch],
      [
        type,
        JSON.stringify(data),
        Math.max(1, this.maxEvents),
        fence?.hubId ?? '',
        fence ? String(fence.epoch) : '',
      ],
    )) as [number, string, number];
    if (reply[0] < 0) throw scriptError(reply, { ...(fence ? { fence } : {}) });
    return { id: eventIdFromStreamId(reply[1]), type, at: Number(reply[2]), data: structuredClone(data) };
  }

  async read(channel: string, max: number): Promise<HubEvent[]> {
    if (max < 1) return [];
    const flat = (await this.run(scripts.read, [this.keys.events], [channel, Math.floor(max)])) as string[];
    const out: HubEvent[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      out.push({
        id: eventIdFromStreamId(flat[i]!),
        type: flat[i + 1] as HubEventType,
        at: Number(flat[i + 2]),
        data: JSON.parse(flat[i + 3]!) as Record<string, unknown>,
      });
    }
    return out;
  }

  async ack(channel: string, eventIds: string[]): Promise<void> {
    if (eventIds.length === 0) return;
    try {
      await this.connection.client.xack(this.keys.events, channel, ...eventIds.map(streamIdFromEventId));
    } catch (error) {
      // Acknowledging on a channel that never read anything is a no-op, as in memory.
      if (error instanceof Error && /NOGROUP/.test(error.message)) return;
      throw connectionError(error);
    }
  }

  async pending(channel: string): Promise<number> {
    return Number(await this.run(scripts.pending, [this.keys.events], [channel]));
  }

  /** Closes the connection if this outbox opened it. */
  async close(): Promise<void> {
    if (this.connection.owned) await closeClient(this.connection.client);
  }

  private async run(script: LuaScript, keys: string[], args: ScriptArg[]): Promise<unknown> {
    try {
      return await script.run(this.connection.client, keys, args);
    } catch (error) {
      throw connectionError(error);
    }
  }
}
