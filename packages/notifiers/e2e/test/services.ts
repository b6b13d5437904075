/** Real consumers for the e2e tests: an amqplib queue consumer and a kafkajs consumer. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { HubEvent } from '@mcpmas/core';
import { probeTcp, requireService } from '@mcpmas/testkit';
import amqplib from 'amqplib';
import kafkajs from 'kafkajs';

export const run = promisify(execFile);

export const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const KAFKA_BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');

const rabbit = new URL(RABBITMQ_URL);
export const rabbitUp = await requireService(
  `RabbitMQ at ${rabbit.hostname}:${rabbit.port || 5672}`,
  () => probeTcp(rabbit.hostname, Number(rabbit.port || 5672)),
  'start it with `rabbitmq-server -detached` (guest/guest on 127.0.0.1:5672) or set RABBITMQ_URL',
);
const [kHost, kPort] = KAFKA_BROKERS[0]!.split(':') as [string, string];
export const kafkaUp = await requireService(
  `Kafka at ${KAFKA_BROKERS[0]}`,
  () => probeTcp(kHost, Number(kPort)),
  'run `bash scripts/kafka/start.sh` (KRaft broker on 127.0.0.1:19092) or set KAFKA_BROKERS',
);
export const rabbitctlUp =
  rabbitUp &&
  (await requireService(
    'rabbitmqctl (to restart the broker)',
    () => run('rabbitmqctl', ['status'], { timeout: 10_000 }),
    'install RabbitMQ locally so the test can run `rabbitmqctl stop_app` / `start_app`',
  ));

/** Stops and restarts the RabbitMQ application (the node stays up), waiting until it serves again. */
export const rabbitBroker = {
  stop: () => run('rabbitmqctl', ['stop_app'], { timeout: 60_000 }),
  start: async () => {
    await run('rabbitmqctl', ['start_app'], { timeout: 60_000 });
    await run('rabbitmqctl', ['await_startup'], { timeout: 60_000 });
  },
};

/** A durable queue bound with `#` to a topic exchange; `consume()` (re)attaches a consumer. */
export async function rabbitQueue(exchange: string, queue: string) {
  const events: HubEvent[] = [];
  let connection: amqplib.ChannelModel | undefined;
  const open = async () => {
    const c = await amqplib.connect(RABBITMQ_URL);
    c.on('error', () => undefined);
    const ch = await c.createChannel();
    ch.on('error', () => undefined);
    await ch.assertExchange(exchange, 'topic', { durable: true });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, '#');
    return { c, ch };
  };
  return {
    events,
    /** Declares the queue and binding without consuming. */
    declare: async () => {
      const { c } = await open();
      await c.close();
    },
    consume: async () => {
      const { c, ch } = await open();
      connection = c;
      await ch.consume(queue, (m) => {
        if (!m) return;
        events.push(JSON.parse(m.content.toString()) as HubEvent);
        ch.ack(m);
      });
    },
    close: async () => {
      await connection?.close().catch(() => undefined);
      const { c, ch } = await open();
      await ch.deleteQueue(queue);
      await ch.deleteExchange(exchange);
      await c.close();
    },
  };
}

/** A topic of its own with a kafkajs consumer reading it from the beginning. */
export async function kafkaTopic(topic: string) {
  const kafka = new kafkajs.Kafka({
    clientId: 'mcpmas-e2e',
    brokers: KAFKA_BROKERS,
    logLevel: kafkajs.logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  const consumer = kafka.consumer({ groupId: `${topic}-group`, maxWaitTimeInMs: 100 });
  const messages: Array<{ key: string; event: HubEvent }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      messages.push({
        key: message.key!.toString(),
        event: JSON.parse(message.value!.toString()) as HubEvent,
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
