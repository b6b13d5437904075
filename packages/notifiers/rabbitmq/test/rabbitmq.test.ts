import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ConfigError, type HubEvent, McpmasError } from '@mcpmas/core';
import {
  eventually,
  notifierSuite,
  probeTcp,
  type ReceivedNotification,
  requireService,
  sampleEvent,
  uniquePrefix,
} from '@mcpmas/testkit';
import amqplib, { type ConsumeMessage } from 'amqplib';
import { RabbitMqNotifier } from '../src/index.js';

const run = promisify(execFile);
const URL_ = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const { hostname, port } = new URL(URL_);
const rabbitUp = await requireService(
  `RabbitMQ at ${hostname}:${port || 5672}`,
  () => probeTcp(hostname, Number(port || 5672)),
  'start it with `rabbitmq-server -detached` (guest/guest on 127.0.0.1:5672) or set RABBITMQ_URL',
);
const canRestart =
  rabbitUp &&
  (await requireService(
    'rabbitmqctl (to restart the broker)',
    () => run('rabbitmqctl', ['status'], { timeout: 10_000 }),
    'install RabbitMQ locally so the test can run `rabbitmqctl stop_app` / `start_app`',
  ));

interface Consumer {
  messages: Array<ReceivedNotification & { routingKey: string; message: ConsumeMessage }>;
  /**
   * Re-declares the exchange with another type, so a notifier's declaration (on connect) is
   * refused by the broker (406 PRECONDITION_FAILED) until {@link Consumer.restore}.
   */
  breakExchange(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A consumer on its own queue bound with `#` to `exchange` (declared here first). */
async function consume(exchange: string, type = 'topic'): Promise<Consumer> {
  const connection = await amqplib.connect(URL_);
  connection.on('error', () => undefined);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, type, { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, exchange, type === 'fanout' ? '' : '#');
  const messages: Consumer['messages'] = [];
  await channel.consume(
    queue,
    (message) => {
      if (!message) return;
      const body = JSON.parse(message.content.toString()) as HubEvent;
      messages.push({
        id: body.id,
        type: body.type,
        data: body.data,
        routingKey: message.fields.routingKey,
        message,
      });
      channel.ack(message);
    },
    {},
  );
  return {
    messages,
    breakExchange: async () => {
      await channel.deleteExchange(exchange);
      await channel.assertExchange(exchange, type === 'headers' ? 'fanout' : 'headers', { durable: true });
    },
    restore: async () => {
      await channel.deleteExchange(exchange);
      await channel.assertExchange(exchange, type, { durable: true });
      await channel.bindQueue(queue, exchange, '#');
    },
    close: async () => {
      await channel.deleteExchange(exchange).catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}

if (rabbitUp) {
  notifierSuite('rabbitmq', async () => {
    const exchange = uniquePrefix('mcpmas-x');
    const consumer = await consume(exchange);
    const notifier = new RabbitMqNotifier({ url: URL_, exchange, confirmTimeoutMs: 3000 });
    return {
      notifier,
      received: async () => consumer.messages.map(({ id, type, data }) => ({ id, type, data: data! })),
      breakDestination: () => consumer.breakExchange(),
      restoreDestination: () => consumer.restore(),
      close: async () => {
        await notifier.close();
        await consumer.close();
      },
    };
  });
} else {
  it.skip('notifierSuite: rabbitmq (RabbitMQ not reachable)', () => undefined);
}

(rabbitUp ? describe : describe.skip)('RabbitMqNotifier against a real broker', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('routes by event type by default, sets message properties, and honours a custom key and exchange type', async () => {
    const exchange = uniquePrefix('mcpmas-x');
    const consumer = await consume(exchange);
    cleanup.push(() => consumer.close());
    const notifier = new RabbitMqNotifier({ url: URL_, exchange });
    cleanup.push(() => notifier.close());
    const event = sampleEvent();
    await notifier.notify(event);
    await eventually(() => consumer.messages.length === 1);
    const [got] = consumer.messages;
    expect(got!.routingKey).toBe('agent.evicted');
    expect(got!.message.properties).toMatchObject({
      messageId: event.id,
      type: 'agent.evicted',
      contentType: 'application/json',
      deliveryMode: 2,
      appId: 'mcpmas',
    });

    const direct = uniquePrefix('mcpmas-direct');
    const fanoutConsumer = await consume(direct, 'fanout');
    cleanup.push(() => fanoutConsumer.close());
    const custom = new RabbitMqNotifier({
      name: 'ops-rabbit',
      url: URL_,
      exchange: direct,
      exchangeType: 'fanout',
      routingKey: (e) => `hub.${e.type}`,
    });
    cleanup.push(() => custom.close());
    await custom.notify(event);
    await eventually(() => fanoutConsumer.messages.length === 1);
    expect(fanoutConsumer.messages[0]!.routingKey).toBe('hub.agent.evicted');
  });

  (canRestart ? it : it.skip)(
    'a broker restart: notify throws while it is down, and the next notify reconnects and delivers',
    async () => {
      const exchange = uniquePrefix('mcpmas-restart');
      const notifier = new RabbitMqNotifier({ url: URL_, exchange, connectionTimeoutMs: 1000 });
      cleanup.push(() => notifier.close());
      await notifier.notify(sampleEvent());
      expect(notifier.connected).toBe(true);
      await run('rabbitmqctl', ['stop_app'], { timeout: 60_000 });
      try {
        const error = (await notifier.notify(sampleEvent()).catch((e: unknown) => e)) as McpmasError;
        expect(error).toBeInstanceOf(McpmasError);
        expect(error.retryable).toBe(true);
        expect(error.message).toMatch(/rabbitmq "rabbitmq" could not (connect|publish)/);
      } finally {
        await run('rabbitmqctl', ['start_app'], { timeout: 60_000 });
        await run('rabbitmqctl', ['await_startup'], { timeout: 60_000 });
      }
      const consumer = await consume(exchange);
      cleanup.push(() => consumer.close());
      const event = sampleEvent();
      await eventually(
        async () => {
          await notifier.notify(event);
          return true;
        },
        15_000,
        200,
      );
      await eventually(() => consumer.messages.some((m) => m.id === event.id));
    },
    60_000,
  );

  it('a notify against an unreachable broker fails fast with a retryable error', async () => {
    const notifier = new RabbitMqNotifier({
      url: 'amqp://guest:guest@127.0.0.1:1',
      exchange: 'x',
      connectionTimeoutMs: 500,
    });
    const error = (await notifier.notify(sampleEvent()).catch((e: unknown) => e)) as McpmasError;
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toMatch(/could not connect/);
    await notifier.close();
  });
});

describe('RabbitMqNotifier configuration', () => {
  it('refuses bad configuration naming the setting', () => {
    const ok = { url: 'amqp://guest:guest@127.0.0.1:5672', exchange: 'events' };
    expect(() => new RabbitMqNotifier({ ...ok, url: 'nope' })).toThrow(ConfigError);
    expect(() => new RabbitMqNotifier({ ...ok, url: 'nope' })).toThrow(
      /rabbitmq notifier "rabbitmq": url must be/,
    );
    expect(() => new RabbitMqNotifier({ ...ok, url: 'http://host' })).toThrow(/url must use amqp or amqps/);
    expect(() => new RabbitMqNotifier({ ...ok, url: 'amqp://bob@host' })).toThrow(
      /names user "bob" but no password/,
    );
    expect(() => new RabbitMqNotifier({ ...ok, exchange: '' })).toThrow(/exchange must be/);
    expect(() => new RabbitMqNotifier({ ...ok, exchangeType: 'x-delayed' as never })).toThrow(/exchangeType/);
  });
});
