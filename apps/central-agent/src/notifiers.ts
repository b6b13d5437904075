/**
 * The hub's `notifiers` setting: a list of notification channels (several of each type
 * allowed, each with a unique `name`), validated by one zod schema, and the factory that
 * turns a validated list into `Notifier`s for the hub.
 *
 * ```json
 * "notifiers": [
 *   { "type": "webhook", "name": "ops-hook", "url": "https://ops.example.com/mcpmas", "secret": "…" },
 *   { "type": "kafka", "brokers": ["kafka-1:9092"], "topic": "mcpmas.events" },
 *   { "type": "rabbitmq", "url": "amqp://hub:…@mq:5672", "exchange": "mcpmas.events" },
 *   { "type": "email", "smtp": { "host": "smtp.example.com", "auth": { "user": "hub", "pass": "…" } },
 *     "from": "hub@example.com", "to": ["ops@example.com"] },
 *   { "type": "im", "platform": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=…",
 *     "secret": "SEC…" }
 * ]
 * ```
 */
import { ConfigError, McpmasError, type Notifier } from '@mcpmas/core';
import { EmailNotifier } from '@mcpmas/notifier-email';
import { ImNotifier } from '@mcpmas/notifier-im';
import { KafkaNotifier } from '@mcpmas/notifier-kafka';
import { RabbitMqNotifier } from '@mcpmas/notifier-rabbitmq';
import { WebhookNotifier } from '@mcpmas/notifier-webhook';
import { z } from 'zod';

const positiveInt = z.int().min(1);
const name = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be 1-100 letters, digits, ".", "_" or "-"')
  .optional();
const secretText = (what: string) =>
  z.string({ error: `is required (${what})` }).min(1, `is required (${what})`);
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' });

/** TLS material as a config file holds it: PEM text, not file paths. */
const TlsSchema = z.strictObject({
  ca: z.union([z.string(), z.array(z.string())]).optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  passphrase: z.string().optional(),
  servername: z.string().optional(),
  rejectUnauthorized: z.boolean().optional(),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).optional(),
});

/** `{ "type": "webhook" }`: signed JSON POSTs. */
export const WebhookChannelSchema = z.strictObject({
  type: z.literal('webhook'),
  name,
  url: httpUrl,
  secret: secretText('the HMAC key that signs every request'),
  headers: z.record(z.string(), z.string()).optional(),
  timeoutMs: positiveInt.optional(),
  maxAttempts: positiveInt.max(20).optional(),
  disableAfterFailures: positiveInt.optional(),
  cooldownMs: positiveInt.optional(),
});

const brokers = z.union([
  z
    .array(z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'must be "host:port"'))
    .min(1, 'must list at least one broker'),
  z
    .string()
    .regex(
      /^[^\s:/,]+:\d{1,5}(,[^\s:/,]+:\d{1,5})*$/,
      'must be "host:port" or a comma-separated list of them',
    )
    .transform((s) => s.split(',')),
]);

const saslPassword = (mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512') =>
  z.strictObject({
    mechanism: z.literal(mechanism),
    username: secretText(`${mechanism} needs a username`),
    password: secretText(`${mechanism} needs a password`),
  });

/** `{ "type": "kafka" }`: one message per event on a topic. */
export const KafkaChannelSchema = z.strictObject({
  type: z.literal('kafka'),
  name,
  brokers,
  topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be 1-249 letters, digits, ".", "_" or "-"'),
  clientId: z.string().min(1).optional(),
  ssl: z.union([z.boolean(), TlsSchema]).optional(),
  sasl: z
    .discriminatedUnion(
      'mechanism',
      [saslPassword('plain'), saslPassword('scram-sha-256'), saslPassword('scram-sha-512')],
      { error: 'mechanism must be plain, scram-sha-256 or scram-sha-512' },
    )
    .optional(),
  connectionTimeoutMs: positiveInt.optional(),
  requestTimeoutMs: positiveInt.optional(),
});

/** `{ "type": "rabbitmq" }`: a persistent message per event on an exchange, publisher-confirmed. */
export const RabbitMqChannelSchema = z.strictObject({
  type: z.literal('rabbitmq'),
  name,
  url: z
    .string()
    .regex(/^amqps?:\/\/[^\s]+$/, 'must be an amqp:// or amqps:// URL')
    .refine((u) => {
      try {
        const parsed = new URL(u);
        return !parsed.username || Boolean(parsed.password);
      } catch {
        return false;
      }
    }, 'names a user without a password (or is malformed)'),
  exchange: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,255}$/, 'must be 1-255 letters, digits, ".", "_", ":" or "-"'),
  exchangeType: z.enum(['topic', 'direct', 'fanout', 'headers']).optional(),
  durable: z.boolean().optional(),
  routingKey: z.string().max(255).optional(),
  persistent: z.boolean().optional(),
  connectionTimeoutMs: positiveInt.optional(),
  confirmTimeoutMs: positiveInt.optional(),
  heartbeatSeconds: z.int().min(0).optional(),
  tls: TlsSchema.optional(),
});

const address = z
  .string()
  .regex(/^(?:[^<>]*<\s*)?[^\s@<>]+@[^\s@<>]+(?:\s*>)?$/, 'must be an e-mail address');

/** `{ "type": "email" }`: SMTP mails, bursts batched into digests. */
export const EmailChannelSchema = z.strictObject({
  type: z.literal('email'),
  name,
  smtp: z.strictObject({
    host: z.string().min(1, 'is required'),
    port: z.int().min(1).max(65_535).optional(),
    secure: z.boolean().optional(),
    requireTLS: z.boolean().optional(),
    auth: z
      .strictObject({
        user: secretText('the SMTP user name'),
        pass: secretText('the SMTP password'),
      })
      .optional(),
    tls: TlsSchema.optional(),
    timeoutMs: positiveInt.optional(),
  }),
  from: address,
  to: z.union([address, z.array(address).min(1, 'must name at least one recipient')]),
  subjectPrefix: z.string().max(100).optional(),
  hubName: z.string().max(200).optional(),
  windowMs: z.int().min(0).max(600_000).optional(),
  maxEventsPerMail: positiveInt.max(10_000).optional(),
  attachJson: z.boolean().optional(),
});

/** `{ "type": "im" }`: Slack, DingTalk, Feishu/Lark or WeCom incoming-webhook messages. */
export const ImChannelSchema = z
  .strictObject({
    type: z.literal('im'),
    name,
    platform: z.enum(['slack', 'dingtalk', 'feishu', 'wecom'], {
      error: 'must be one of slack, dingtalk, feishu, wecom',
    }),
    url: httpUrl,
    secret: z.string().min(1, 'must not be empty when set').optional(),
    titlePrefix: z.string().max(100).optional(),
    timeoutMs: positiveInt.optional(),
  })
  .superRefine((c, ctx) => {
    let url: URL;
    try {
      url = new URL(c.url);
    } catch {
      return; // reported by `url` itself
    }
    if (c.platform === 'dingtalk' && !url.searchParams.get('access_token')) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: "must carry the robot's access_token query parameter",
      });
    }
    if (c.platform === 'wecom' && !url.searchParams.get('key')) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: "must carry the robot's key query parameter" });
    }
    if (c.secret !== undefined && c.platform !== 'dingtalk' && c.platform !== 'feishu') {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'applies to dingtalk and feishu only' });
    }
  });

/** The channel types. */
export const NOTIFIER_TYPES = ['webhook', 'kafka', 'rabbitmq', 'email', 'im'] as const;

/** One channel of the `notifiers` list, told apart by `type`. */
export const NotifierConfigSchema = z.discriminatedUnion(
  'type',
  [WebhookChannelSchema, KafkaChannelSchema, RabbitMqChannelSchema, EmailChannelSchema, ImChannelSchema],
  { error: `type must be one of ${NOTIFIER_TYPES.join(', ')}` },
);

/** A validated channel. */
export type NotifierConfig = z.output<typeof NotifierConfigSchema>;

/** The name a channel is tracked under: its `name`, else its type (the platform for `im`). */
export function channelName(config: NotifierConfig): string {
  return config.name ?? (config.type === 'im' ? config.platform : config.type);
}

/**
 * The hub's `notifiers` setting: a list of channels whose names (explicit or defaulted) are
 * unique, since the outbox tracks acknowledgements per name. @default []
 */
export const NotifiersConfigSchema = z
  .array(NotifierConfigSchema)
  .max(64)
  .superRefine((list, ctx) => {
    const seen = new Map<string, number>();
    list.forEach((config, i) => {
      const n = channelName(config);
      const first = seen.get(n);
      if (first === undefined) seen.set(n, i);
      else {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: `"${n}" is also the name of notifiers.${first}; give each channel a unique name`,
        });
      }
    });
  });

/** A validated `notifiers` list. */
export type NotifiersConfig = z.output<typeof NotifiersConfigSchema>;

/**
 * Validates a raw `notifiers` value on its own (outside the hub's schema). Throws
 * `ConfigError` naming every bad setting, e.g. `notifiers.1.url: must be an absolute http(s) URL`.
 */
export function parseNotifiersConfig(value: unknown, path = 'notifiers'): NotifiersConfig {
  const result = NotifiersConfigSchema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: [path, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
  throw new ConfigError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), { details: { issues } });
}

/**
 * Builds the notifiers of a validated list, in order. A value the schema let through but a
 * notifier refuses is reported as a `ConfigError` prefixed with its place in the list; the
 * notifiers already built are then closed.
 */
export function createNotifiers(config: NotifiersConfig, path = 'notifiers'): Notifier[] {
  const built: Notifier[] = [];
  try {
    config.forEach((channel, i) => {
      try {
        built.push(createNotifier(channel));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new ConfigError(`${path}.${i}: ${message}`, {
          cause: error,
          ...(error instanceof McpmasError && error.details ? { details: error.details } : {}),
        });
      }
    });
  } catch (error) {
    for (const n of built) void n.close?.();
    throw error;
  }
  return built;
}

/** Builds one notifier from a validated channel. */
export function createNotifier(channel: NotifierConfig): Notifier {
  const name = channelName(channel);
  switch (channel.type) {
    case 'webhook': {
      const { type: _, ...options } = channel;
      return new WebhookNotifier({ ...options, name });
    }
    case 'kafka': {
      const { type: _, ...options } = channel;
      return new KafkaNotifier({ ...options, name });
    }
    case 'rabbitmq': {
      const { type: _, ...options } = channel;
      return new RabbitMqNotifier({ ...options, name });
    }
    case 'email': {
      const { type: _, ...options } = channel;
      return new EmailNotifier({ ...options, name });
    }
    case 'im': {
      const { type: _, ...options } = channel;
      return new ImNotifier({ ...options, name });
    }
  }
}
