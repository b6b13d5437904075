/** The RabbitMQ notifier: publishes each event to an exchange over a confirm channel. */
import type { ConnectionOptions } from 'node:tls';
import { ConfigError, type HubEvent, type Notifier, UnavailableError } from '@mcpmas/core';
import amqplib, { type ChannelModel, type ConfirmChannel } from 'amqplib';

/** Exchange types RabbitMQ ships with. */
export type ExchangeType = 'topic' | 'direct' | 'fanout' | 'headers';

/** Options of {@link RabbitMqNotifier}. */
export interface RabbitMqNotifierOptions {
  /** Channel name; the outbox tracks acknowledgements under it. @default "rabbitmq" */
  name?: string;
  /** `amqp://user:pass@host:5672/vhost` or `amqps://…`. */
  url: string;
  /** Exchange the events are published to; declared on every (re)connect. */
  exchange: string;
  /** @default "topic" */
  exchangeType?: ExchangeType;
  /** Declare the exchange durable. @default true */
  durable?: boolean;
  /** Routing key: a fixed string or one computed per event. @default the event type, e.g. `agent.evicted` */
  routingKey?: string | ((event: HubEvent) => string);
  /** Mark messages persistent (survive a broker restart in durable queues). @default true */
  persistent?: boolean;
  /** TCP connect timeout. @default 5000 */
  connectionTimeoutMs?: number;
  /** Longest wait for the broker's publisher confirm. @default 10000 */
  confirmTimeoutMs?: number;
  /** TLS options for `amqps:` (ca, cert, key, passphrase, servername, rejectUnauthorized…). */
  tls?: ConnectionOptions;
  /** AMQP heartbeat in seconds; detects a dead broker on an idle connection. @default 10 */
  heartbeatSeconds?: number;
}

/** Defaults of {@link RabbitMqNotifierOptions}. */
export const RABBITMQ_DEFAULTS = {
  name: 'rabbitmq',
  exchangeType: 'topic' as ExchangeType,
  connectionTimeoutMs: 5000,
  confirmTimeoutMs: 10_000,
  heartbeatSeconds: 10,
} as const;

const EXCHANGE_TYPES = new Set<string>(['topic', 'direct', 'fanout', 'headers']);

interface Link {
  connection: ChannelModel;
  channel: ConfirmChannel;
}

/**
 * Publishes each event as a persistent JSON message (`{ id, type, at, data }`, `messageId` =
 * event id, `type` = event type) to `exchange` with the routing key, and resolves only when
 * the broker confirms it. The connection is opened on first use; when it drops (a broker
 * restart) the pending `notify` rejects, so the hub's delivery loop retries, and the next
 * `notify` reconnects and re-declares the exchange.
 */
export class RabbitMqNotifier implements Notifier {
  readonly name: string;
  readonly exchange: string;
  private readonly url: string;
  private readonly exchangeType: ExchangeType;
  private readonly durable: boolean;
  private readonly persistent: boolean;
  private readonly routingKey: (event: HubEvent) => string;
  private readonly connectionTimeoutMs: number;
  private readonly confirmTimeoutMs: number;
  private readonly tls: ConnectionOptions | undefined;
  private link: Promise<Link> | undefined;
  private closed = false;

  constructor(options: RabbitMqNotifierOptions) {
    this.name = options.name ?? RABBITMQ_DEFAULTS.name;
    const where = `rabbitmq notifier "${this.name}"`;
    if (!this.name.trim()) throw new ConfigError('rabbitmq notifier: name must not be empty');
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new ConfigError(
        `${where}: url must be an amqp:// or amqps:// URL, got ${JSON.stringify(options.url)}`,
      );
    }
    if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') {
      throw new ConfigError(`${where}: url must use amqp or amqps, got "${url.protocol}"`);
    }
    if (url.username && !url.password) {
      throw new ConfigError(`${where}: url names user "${decodeURIComponent(url.username)}" but no password`);
    }
    if (typeof options.exchange !== 'string' || !/^[A-Za-z0-9._:-]{1,255}$/.test(options.exchange)) {
      throw new ConfigError(
        `${where}: exchange must be 1-255 characters of letters, digits, ".", "_", ":" or "-", got ${JSON.stringify(options.exchange)}`,
      );
    }
    const exchangeType = options.exchangeType ?? RABBITMQ_DEFAULTS.exchangeType;
    if (!EXCHANGE_TYPES.has(exchangeType)) {
      throw new ConfigError(`${where}: exchangeType must be one of ${[...EXCHANGE_TYPES].join(', ')}`);
    }
    // Heartbeats are a URL parameter in amqplib; add one unless the URL already sets it.
    if (!url.searchParams.has('heartbeat')) {
      url.searchParams.set(
        'heartbeat',
        String(options.heartbeatSeconds ?? RABBITMQ_DEFAULTS.heartbeatSeconds),
      );
    }
    this.url = url.toString();
    this.exchange = options.exchange;
    this.exchangeType = exchangeType;
    this.durable = options.durable ?? true;
    this.persistent = options.persistent ?? true;
    const key = options.routingKey;
    this.routingKey = typeof key === 'function' ? key : key === undefined ? (e) => e.type : () => key;
    this.connectionTimeoutMs = options.connectionTimeoutMs ?? RABBITMQ_DEFAULTS.connectionTimeoutMs;
    this.confirmTimeoutMs = options.confirmTimeoutMs ?? RABBITMQ_DEFAULTS.confirmTimeoutMs;
    this.tls = options.tls;
  }

  /** True while a connection is open. */
  get connected(): boolean {
    return this.link !== undefined;
  }

  /** Publishes one event; resolves once the broker confirmed it. */
  async notify(event: HubEvent): Promise<void> {
    if (this.closed) throw new UnavailableError(`rabbitmq notifier "${this.name}" is closed`);
    const current = this.connect();
    let link: Link;
    try {
      link = await current;
    } catch (error) {
      throw this.unavailable(`could not connect: ${message(error)}`, error);
    }
    const content = Buffer.from(
      JSON.stringify({ id: event.id, type: event.type, at: event.at, data: event.data }),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no publisher confirm within ${this.confirmTimeoutMs} ms`)),
          this.confirmTimeoutMs,
        );
        const onClose = () => {
          clearTimeout(timer);
          reject(new Error('the channel closed before the broker confirmed'));
        };
        link.channel.once('close', onClose);
        link.channel.publish(
          this.exchange,
          this.routingKey(event),
          content,
          {
            persistent: this.persistent,
            contentType: 'application/json',
            messageId: event.id,
            type: event.type,
            timestamp: Math.floor(event.at / 1000),
            appId: 'mcpmas',
            headers: { 'mcpmas-event-id': event.id },
          },
          (error: unknown) => {
            clearTimeout(timer);
            link.channel.removeListener('close', onClose);
            if (error)
              reject(
                error instanceof Error ? error : new Error(`broker nacked the message: ${String(error)}`),
              );
            else resolve();
          },
        );
      });
    } catch (error) {
      // Whatever broke, start from a fresh connection next time.
      this.drop(current);
      throw this.unavailable(
        `could not publish event ${event.id} to exchange ${this.exchange}: ${message(error)}`,
        error,
      );
    }
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const link = this.link;
    this.link = undefined;
    const open = await link?.catch(() => undefined);
    await open?.connection.close().catch(() => undefined);
  }

  private connect(): Promise<Link> {
    if (this.link) return this.link;
    const attempt = (async (): Promise<Link> => {
      const connection = await amqplib.connect(this.url, { ...this.tls, timeout: this.connectionTimeoutMs });
      // Without listeners an 'error' event would crash the process; the 'close' that follows
      // tells us to reconnect next time.
      connection.on('error', () => undefined);
      connection.on('close', () => this.drop(attempt));
      try {
        const channel = await connection.createConfirmChannel();
        channel.on('error', () => undefined);
        channel.on('close', () => this.drop(attempt));
        await channel.assertExchange(this.exchange, this.exchangeType, { durable: this.durable });
        return { connection, channel };
      } catch (error) {
        await connection.close().catch(() => undefined);
        throw error;
      }
    })();
    this.link = attempt;
    attempt.catch(() => this.drop(attempt));
    return attempt;
  }

  /** Forgets a link (closing it if still open) unless a newer one replaced it. */
  private drop(link: Promise<Link>): void {
    if (this.link !== link) return;
    this.link = undefined;
    void link.then(
      (l) => l.connection.close().catch(() => undefined),
      () => undefined,
    );
  }

  private unavailable(what: string, cause: unknown): UnavailableError {
    return new UnavailableError(`rabbitmq "${this.name}" ${what}`, {
      cause,
      details: { channel: this.name, exchange: this.exchange },
    });
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
