/** The Kafka notifier: one JSON message per event on a topic, keyed by agent or task id. */
import type { ConnectionOptions } from 'node:tls';
import { ConfigError, type HubEvent, type Notifier, UnavailableError } from '@mcpmas/core';
import kafkajs, { type KafkaConfig, type Producer, type RetryOptions, type SASLOptions } from 'kafkajs';

/** Options of {@link KafkaNotifier}. */
export interface KafkaNotifierOptions {
  /** Channel name; the outbox tracks acknowledgements under it. @default "kafka" */
  name?: string;
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** Topic the events are written to. */
  topic: string;
  /** Kafka client id. @default "mcpmas-hub" */
  clientId?: string;
  /** TLS: `true` for the system CAs, or node `tls` options (ca, cert, key, servername…). @default off */
  ssl?: boolean | ConnectionOptions;
  /** SASL authentication, passed to kafkajs (`plain`, `scram-sha-256`, `scram-sha-512`, `aws`, `oauthbearer`). */
  sasl?: SASLOptions;
  /** Broker connect timeout. @default 3000 */
  connectionTimeoutMs?: number;
  /** Request timeout. @default 10000 */
  requestTimeoutMs?: number;
  /** kafkajs retry of one send; the hub's delivery loop retries beyond it. @default { retries: 3 } */
  retry?: RetryOptions;
  /** Let the broker create a missing topic (needs `auto.create.topics.enable`). @default true */
  allowAutoTopicCreation?: boolean;
  /** Extra headers on every message. */
  headers?: Record<string, string>;
  /** kafkajs log level (0 nothing … 5 debug). @default 0 (kafkajs is silent; failures surface as errors) */
  logLevel?: number;
}

/** Defaults of {@link KafkaNotifierOptions}. */
export const KAFKA_DEFAULTS = {
  name: 'kafka',
  clientId: 'mcpmas-hub',
  connectionTimeoutMs: 3000,
  requestTimeoutMs: 10_000,
  retry: { retries: 3 } satisfies RetryOptions,
} as const;

const SASL_NEEDS_PASSWORD = new Set(['plain', 'scram-sha-256', 'scram-sha-512']);
const SASL_MECHANISMS = new Set([...SASL_NEEDS_PASSWORD, 'aws', 'oauthbearer']);

/** The message key: the agent the event is about, else its task, else the event type. */
export function kafkaKey(event: HubEvent): string {
  const { agentId, taskId } = event.data;
  if (typeof agentId === 'string' && agentId) return agentId;
  if (typeof taskId === 'string' && taskId) return taskId;
  return event.type;
}

/**
 * Writes each event as one message to `topic`: key = agent id (or task id), value = the event
 * as JSON (`{ id, type, at, data }`), headers `mcpmas-event-id` and `mcpmas-event-type`. The
 * producer is idempotent (acks from all in-sync replicas, one request in flight), so kafkajs's
 * own retries never duplicate or reorder a message; a retry by the hub after a lost ack can,
 * so consumers de-duplicate on `mcpmas-event-id`. Connects on first use and again after a
 * failure.
 */
export class KafkaNotifier implements Notifier {
  readonly name: string;
  readonly topic: string;
  private readonly producer: Producer;
  private readonly headers: Record<string, string>;
  private connecting: Promise<void> | undefined;
  private closed = false;

  constructor(options: KafkaNotifierOptions) {
    this.name = options.name ?? KAFKA_DEFAULTS.name;
    const where = `kafka notifier "${this.name}"`;
    if (!this.name.trim()) throw new ConfigError('kafka notifier: name must not be empty');
    if (!Array.isArray(options.brokers) || options.brokers.length === 0) {
      throw new ConfigError(`${where}: brokers must list at least one "host:port"`);
    }
    for (const [i, broker] of options.brokers.entries()) {
      if (typeof broker !== 'string' || !/^[^\s:/]+:\d{1,5}$/.test(broker)) {
        throw new ConfigError(`${where}: brokers.${i} must be "host:port", got ${JSON.stringify(broker)}`);
      }
    }
    if (typeof options.topic !== 'string' || !/^[A-Za-z0-9._-]{1,249}$/.test(options.topic)) {
      throw new ConfigError(
        `${where}: topic must be 1-249 characters of letters, digits, ".", "_" or "-", got ${JSON.stringify(options.topic)}`,
      );
    }
    validateSasl(options.sasl, where);
    if (options.retry?.retries !== undefined && options.retry.retries < 1) {
      throw new ConfigError(
        `${where}: retry.retries must be at least 1 (an idempotent producer needs retries)`,
      );
    }
    this.topic = options.topic;
    this.headers = options.headers ?? {};
    const config: KafkaConfig = {
      clientId: options.clientId ?? KAFKA_DEFAULTS.clientId,
      brokers: options.brokers,
      connectionTimeout: options.connectionTimeoutMs ?? KAFKA_DEFAULTS.connectionTimeoutMs,
      requestTimeout: options.requestTimeoutMs ?? KAFKA_DEFAULTS.requestTimeoutMs,
      retry: options.retry ?? KAFKA_DEFAULTS.retry,
      logLevel: options.logLevel ?? kafkajs.logLevel.NOTHING,
    };
    if (options.ssl !== undefined) config.ssl = options.ssl;
    if (options.sasl !== undefined) config.sasl = options.sasl;
    const kafka = new kafkajs.Kafka(config);
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: options.allowAutoTopicCreation ?? true,
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    });
  }

  /** Writes one event; resolves once the broker acknowledged it. */
  async notify(event: HubEvent): Promise<void> {
    if (this.closed) throw new UnavailableError(`kafka notifier "${this.name}" is closed`);
    await this.connect();
    try {
      await this.producer.send({
        topic: this.topic,
        acks: -1,
        messages: [
          {
            key: kafkaKey(event),
            value: JSON.stringify({ id: event.id, type: event.type, at: event.at, data: event.data }),
            headers: Object.assign({}, this.headers, {
              'mcpmas-event-id': event.id,
              'mcpmas-event-type': event.type,
            }),
          },
        ],
      });
    } catch (error) {
      throw new UnavailableError(
        `kafka "${this.name}" could not write event ${event.id} to topic ${this.topic}: ${message(error)}`,
        { cause: error, details: { channel: this.name, topic: this.topic } },
      );
    }
  }

  /** Disconnects the producer. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connecting?.catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
  }

  private connect(): Promise<void> {
    this.connecting ??= this.producer.connect().catch((error: unknown) => {
      this.connecting = undefined;
      throw new UnavailableError(`kafka "${this.name}" could not connect: ${message(error)}`, {
        cause: error,
        details: { channel: this.name },
      });
    });
    return this.connecting;
  }
}

function validateSasl(sasl: SASLOptions | undefined, where: string): void {
  if (sasl === undefined) return;
  const mechanism = (sasl as { mechanism?: unknown }).mechanism;
  if (typeof mechanism !== 'string' || !SASL_MECHANISMS.has(mechanism)) {
    throw new ConfigError(
      `${where}: sasl.mechanism must be one of ${[...SASL_MECHANISMS].join(', ')}, got ${JSON.stringify(mechanism)}`,
    );
  }
  if (SASL_NEEDS_PASSWORD.has(mechanism)) {
    const { username, password } = sasl as { username?: unknown; password?: unknown };
    if (typeof username !== 'string' || !username) {
      throw new ConfigError(`${where}: sasl.username is required for ${mechanism}`);
    }
    if (typeof password !== 'string' || !password) {
      throw new ConfigError(`${where}: sasl.password is required for ${mechanism}`);
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
