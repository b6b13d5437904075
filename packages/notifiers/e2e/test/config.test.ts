/** The hub's `notifiers` setting (apps/central-agent/src/notifiers.ts): validation and construction. */
import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@mcpmas/core';
import { EmailNotifier } from '@mcpmas/notifier-email';
import { ImNotifier } from '@mcpmas/notifier-im';
import { KafkaNotifier } from '@mcpmas/notifier-kafka';
import { RabbitMqNotifier } from '@mcpmas/notifier-rabbitmq';
import { WebhookNotifier } from '@mcpmas/notifier-webhook';
import {
  createNotifiers,
  type NotifiersConfig,
  NotifiersConfigSchema,
  parseNotifiersConfig,
} from '../../../../apps/central-agent/src/notifiers.js';

const valid = [
  { type: 'webhook', url: 'https://ops.example.test/hook', secret: 's3cret' },
  { type: 'webhook', name: 'audit-hook', url: 'http://127.0.0.1:9000/in', secret: 'x', maxAttempts: 2 },
  {
    type: 'kafka',
    brokers: 'k1:9092,k2:9092',
    topic: 'mcpmas.events',
    ssl: true,
    sasl: { mechanism: 'scram-sha-512', username: 'hub', password: 'pw' },
  },
  { type: 'rabbitmq', url: 'amqp://hub:pw@mq:5672/prod', exchange: 'mcpmas.events', exchangeType: 'fanout' },
  {
    type: 'email',
    smtp: { host: 'smtp.example.test', port: 465, secure: true, auth: { user: 'hub', pass: 'pw' } },
    from: '"Hub" <hub@example.test>',
    to: ['a@example.test', 'b@example.test'],
    windowMs: 5000,
  },
  { type: 'im', platform: 'slack', url: 'https://hooks.slack.com/services/T/B/X' },
  {
    type: 'im',
    platform: 'dingtalk',
    url: 'https://oapi.dingtalk.com/robot/send?access_token=t',
    secret: 'SECx',
  },
  { type: 'im', platform: 'feishu', url: 'https://open.feishu.cn/open-apis/bot/v2/hook/h', secret: 'f' },
  {
    type: 'im',
    platform: 'wecom',
    name: 'wecom-oncall',
    url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k',
  },
];

/** The message a bad list is refused with. */
function refusal(list: unknown): string {
  try {
    parseNotifiersConfig(list);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the list was accepted');
}

describe('notifiers configuration', () => {
  it('accepts several channels of each type and builds them under their names', async () => {
    const config = parseNotifiersConfig(valid);
    const notifiers = createNotifiers(config);
    try {
      expect(notifiers.map((n) => [n.name, n.constructor])).toEqual([
        ['webhook', WebhookNotifier],
        ['audit-hook', WebhookNotifier],
        ['kafka', KafkaNotifier],
        ['rabbitmq', RabbitMqNotifier],
        ['email', EmailNotifier],
        ['slack', ImNotifier],
        ['dingtalk', ImNotifier],
        ['feishu', ImNotifier],
        ['wecom-oncall', ImNotifier],
      ]);
      expect((notifiers[4] as EmailNotifier).batching).toEqual({ windowMs: 5000, maxEvents: 1000 });
    } finally {
      for (const n of notifiers) await n.close?.();
    }
    expect(NotifiersConfigSchema.parse([])).toEqual([]);
  });

  it('refuses an unknown channel type naming the setting', () => {
    expect(refusal([{ type: 'pager', url: 'https://x.test' }])).toMatch(
      /^notifiers\.0(\.type)?: type must be one of webhook, kafka, rabbitmq, email, im/,
    );
  });

  it('refuses malformed URLs naming the setting', () => {
    expect(refusal([{ type: 'webhook', url: 'not a url', secret: 's' }])).toBe(
      'notifiers.0.url: must be an absolute http(s) URL',
    );
    expect(refusal([valid[0], { type: 'im', platform: 'slack', url: 'ftp://x.test/a' }])).toBe(
      'notifiers.1.url: must be an absolute http(s) URL',
    );
    expect(refusal([{ type: 'rabbitmq', url: 'http://mq', exchange: 'x' }])).toBe(
      'notifiers.0.url: must be an amqp:// or amqps:// URL',
    );
    expect(refusal([{ type: 'kafka', brokers: ['kafka://k:1'], topic: 't' }])).toMatch(
      /^notifiers\.0\.brokers/,
    );
    expect(refusal([{ type: 'im', platform: 'dingtalk', url: 'https://oapi.dingtalk.com/robot/send' }])).toBe(
      "notifiers.0.url: must carry the robot's access_token query parameter",
    );
  });

  it('refuses missing credentials naming the setting', () => {
    expect(refusal([{ type: 'webhook', url: 'https://x.test' }])).toBe(
      'notifiers.0.secret: is required (the HMAC key that signs every request)',
    );
    expect(
      refusal([
        { type: 'kafka', brokers: ['k:9092'], topic: 't', sasl: { mechanism: 'plain', username: 'u' } },
      ]),
    ).toBe('notifiers.0.sasl.password: is required (plain needs a password)');
    expect(
      refusal([
        {
          type: 'email',
          smtp: { host: 'h', auth: { user: 'u', pass: '' } },
          from: 'a@b.test',
          to: 'c@d.test',
        },
      ]),
    ).toBe('notifiers.0.smtp.auth.pass: is required (the SMTP password)');
    expect(refusal([{ type: 'rabbitmq', url: 'amqp://bob@mq', exchange: 'x' }])).toBe(
      'notifiers.0.url: names a user without a password (or is malformed)',
    );
  });

  it('refuses duplicate channel names, explicit or defaulted', () => {
    expect(refusal([valid[0], { ...valid[1], name: 'webhook' }])).toBe(
      'notifiers.1.name: "webhook" is also the name of notifiers.0; give each channel a unique name',
    );
    expect(refusal([valid[5], { ...valid[5] }])).toMatch(/^notifiers\.1\.name: "slack" is also the name/);
  });

  it('refuses unknown settings (typos) instead of ignoring them', () => {
    expect(refusal([{ ...valid[0], secrett: 'x' }])).toMatch(/^notifiers\.0: Unrecognized key: "secrett"/);
  });

  it('reports a value a notifier refuses with its place in the list', () => {
    const bad = [{ type: 'webhook', url: 'ftp://x.test/hook', secret: 's' }] as unknown as NotifiersConfig;
    expect(() => createNotifiers(bad)).toThrow(
      'notifiers.0: webhook notifier "webhook": url must use http or https, got "ftp:"',
    );
  });
});
