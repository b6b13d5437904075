import { afterAll, describe, expect, it } from '@jest/globals';
import { ConfigError, McpmasError } from '@mcpmas/core';
import {
  notifierSuite,
  probeTcp,
  type ReceivedNotification,
  requireService,
  sampleEvent,
  uniquePrefix,
} from '@mcpmas/testkit';
import kafkajs, { type Consumer } from 'kafkajs';
import { KafkaNotifier, kafkaKey } from '../src/index.js';

const BROKER = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092';
const [host, port] = BROKER.split(',')[0]!.split(':') as [string, string];
const kafkaUp = await requireService(
  `Kafka at ${BROKER}`,
  () => probeTcp(host, Number(port)),
  'run `bash scripts/kafka/start.sh` (KRaft broker on 127.0.0.1:19092) or set KAFKA_BROKERS',
);

const kafka = new kafkajs.Kafka({
  clientId: 'mcpmas-test',
  brokers: BROKER.split(','),
  logLevel: kafkajs.logLevel.NOTHING,
});

interface Received extends ReceivedNotification {
  key: string;
  headers: Record<string, string>;
}

/** A topic of its own and a consumer reading it from the beginning. */
async function consume(topic: string): Promise<{ messages: Received[]; close(): Promise<void> }> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const consumer: Consumer = kafka.consumer({ groupId: `${topic}-group`, maxWaitTimeInMs: 100 });
  const messages: Received[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const body = JSON.parse(message.value!.toString()) as ReceivedNotification;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      messages.push({
        id: body.id,
        type: body.type,
        data: body.data!,
        key: message.key!.toString(),
        headers,
      });
    },
  });
  return {
    messages,
    close: async () => {
      await consumer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    },
  };
}

if (kafkaUp) {
  notifierSuite(
    'kafka',
    async () => {
      const topic = uniquePrefix('mcpmas-kafka');
      const consumer = await consume(topic);
      const notifier = new KafkaNotifier({ brokers: BROKER.split(','), topic });
      return {
        notifier,
        received: async () => consumer.messages.map(({ id, type, data }) => ({ id, type, data: data! })),
        close: async () => {
          await notifier.close();
          await consumer.close();
        },
      };
    },
    { faults: false, timeoutMs: 20_000 },
  );
} else {
  it.skip('notifierSuite: kafka (Kafka not reachable)', () => undefined);
}

(kafkaUp ? describe : describe.skip)('KafkaNotifier against a real broker', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('keys messages by agent id (else task id) and sets the event headers', async () => {
    const topic = uniquePrefix('mcpmas-kafka-key');
    const consumer = await consume(topic);
    cleanup.push(() => consumer.close());
    const notifier = new KafkaNotifier({
      name: 'ops-kafka',
      brokers: [BROKER],
      topic,
      headers: { env: 'test' },
    });
    cleanup.push(() => notifier.close());
    const evicted = sampleEvent();
    const dead = sampleEvent('task.dead', { taskId: 'task-9', capability: 'echo', attempts: 3 });
    await notifier.notify(evicted);
    await notifier.notify(dead);
    const deadline = Date.now() + 20_000;
    while (consumer.messages.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(consumer.messages.map((m) => m.key)).toEqual([evicted.data.agentId, 'task-9']);
    expect(consumer.messages[0]!.headers).toEqual({
      env: 'test',
      'mcpmas-event-id': evicted.id,
      'mcpmas-event-type': 'agent.evicted',
    });
  });

  it('rejects with a retryable error when no broker answers, and can be closed after', async () => {
    const notifier = new KafkaNotifier({
      brokers: ['127.0.0.1:1'],
      topic: 'unreachable',
      connectionTimeoutMs: 300,
      retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 100 },
    });
    const error = (await notifier.notify(sampleEvent()).catch((e: unknown) => e)) as McpmasError;
    expect(error).toBeInstanceOf(McpmasError);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/kafka "kafka" could not connect/);
    await notifier.close();
  });
});

describe('KafkaNotifier configuration', () => {
  it('keys by agent id, then task id, then event type', () => {
    expect(kafkaKey(sampleEvent('agent.evicted', { agentId: 'a1', taskId: 't1' }))).toBe('a1');
    expect(kafkaKey(sampleEvent('task.dead', { taskId: 't1' }))).toBe('t1');
    expect(kafkaKey(sampleEvent('leader.changed', { hubId: 'h' }))).toBe('leader.changed');
  });

  it('refuses bad configuration naming the setting', () => {
    const ok = { brokers: ['127.0.0.1:9092'], topic: 'events' };
    expect(() => new KafkaNotifier({ ...ok, brokers: [] })).toThrow(ConfigError);
    expect(() => new KafkaNotifier({ ...ok, brokers: ['kafka://x:1'] })).toThrow(
      /brokers\.0 must be "host:port"/,
    );
    expect(() => new KafkaNotifier({ ...ok, topic: 'bad topic' })).toThrow(/topic must be/);
    expect(
      () => new KafkaNotifier({ ...ok, sasl: { mechanism: 'scram-sha-256', username: 'u', password: '' } }),
    ).toThrow(/kafka notifier "kafka": sasl\.password is required for scram-sha-256/);
    expect(() => new KafkaNotifier({ ...ok, sasl: { mechanism: 'md5' } as never })).toThrow(
      /sasl\.mechanism/,
    );
    expect(() => new KafkaNotifier({ ...ok, retry: { retries: 0 } })).toThrow(
      /retry\.retries must be at least 1/,
    );
  });
});
