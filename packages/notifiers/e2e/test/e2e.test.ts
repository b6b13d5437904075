/**
 * A hub with every notifier channel against real brokers and receivers: the eviction of a
 * silent agent reaches each channel's real consumer exactly once; fault tests for a failing
 * WebHook receiver, a RabbitMQ restart and a leader that dies before delivering. One file, so
 * the tests (one restarts RabbitMQ) run one after another.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  type Backend,
  type CallContext,
  createMemoryBackend,
  type HubEvent,
  type Notifier,
} from '@mcpmas/core';
import { Hub, type HubOptions } from '@mcpmas/hub';
import { EmailNotifier } from '@mcpmas/notifier-email';
import { ImNotifier, type ImPlatform } from '@mcpmas/notifier-im';
import { KafkaNotifier } from '@mcpmas/notifier-kafka';
import { RabbitMqNotifier } from '@mcpmas/notifier-rabbitmq';
import { verifyWebhookSignature, WebhookNotifier } from '@mcpmas/notifier-webhook';
import {
  eventually,
  type HttpReceiver,
  type ReceivedRequest,
  startHttpReceiver,
  uniquePrefix,
} from '@mcpmas/testkit';
import { startSmtpReceiver } from '@mcpmas/testkit/smtp';
import {
  KAFKA_BROKERS,
  kafkaTopic,
  kafkaUp,
  RABBITMQ_URL,
  rabbitBroker,
  rabbitctlUp,
  rabbitQueue,
  rabbitUp,
} from './services.js';

const ctx: CallContext = { protocol: 'test' };
const SECRET = 'e2e-webhook-secret';
const fast: HubOptions = {
  heartbeat: { intervalMs: 100, timeoutMs: 500, suspectAfterMs: 200 },
  sweepIntervalMs: 50,
  elector: { ttlMs: 600, renewIntervalMs: 100 },
  delivery: { pollIntervalMs: 50, retry: { baseMs: 100, maxMs: 800, jitter: 0.2 } },
};

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function startHub(options: HubOptions): Promise<Hub> {
  const hub = new Hub({ ...fast, ...options });
  cleanups.push(() => hub.stop());
  await hub.start();
  return hub;
}

/**
 * Registers an agent, leases it `tasks` tasks and lets it go silent. Resolves with the agent
 * id and the leased task ids once the hub has evicted it.
 */
async function evictAnAgent(hub: Hub, tasks = 2): Promise<{ agentId: string; taskIds: string[] }> {
  const d = hub.dispatcher;
  const capability = uniquePrefix('cap');
  const { agentId } = await d.call(
    'agent.register',
    { name: 'doomed worker', skills: [{ id: capability, name: 'Doomed' }] },
    ctx,
  );
  for (let i = 0; i < tasks; i++) await d.call('task.submit', { capability, payload: { i } }, ctx);
  const { tasks: leased } = await d.call('task.next', { agentId, max: tasks }, ctx);
  expect(leased).toHaveLength(tasks);
  await eventually(
    async () => !(await d.call('agents.status', {}, ctx)).agents.some((a) => a.id === agentId),
    5000,
  );
  return { agentId, taskIds: leased.map((t) => t.taskId) };
}

const sorted = (value: unknown) => [...(value as string[])].sort();
const evictedOf = (events: HubEvent[], agentId: string) =>
  events.filter((e) => e.type === 'agent.evicted' && e.data.agentId === agentId);

/** WebHook requests the receiver accepted, signature verified. */
function webhookEvents(receiver: HttpReceiver, statuses: number[]): HubEvent[] {
  return receiver.requests
    .filter((_, i) => statuses[i] === 200)
    .filter((r) =>
      verifyWebhookSignature({
        secret: SECRET,
        body: r.body,
        timestamp: r.headers['x-mcpmas-timestamp'] as string,
        signature: r.headers['x-mcpmas-signature'] as string,
      }),
    )
    .map((r) => JSON.parse(r.body) as HubEvent);
}

/** One local endpoint per IM platform, answering as each platform does on success. */
const IM_ROUTES: Record<ImPlatform, { path: string; ok: string | Record<string, unknown> }> = {
  slack: { path: '/services/T1/B1/x', ok: 'ok' },
  dingtalk: { path: '/robot/send?access_token=tok', ok: { errcode: 0, errmsg: 'ok' } },
  feishu: { path: '/open-apis/bot/v2/hook/h1', ok: { code: 0, msg: 'success', data: {} } },
  wecom: { path: '/cgi-bin/webhook/send?key=k1', ok: { errcode: 0, errmsg: 'ok' } },
};
const platformOf = (r: ReceivedRequest) =>
  (Object.keys(IM_ROUTES) as ImPlatform[]).find((p) => r.url.startsWith(IM_ROUTES[p].path.split('?')[0]!))!;
function imText(platform: ImPlatform, r: ReceivedRequest): string {
  const b = JSON.parse(r.body) as Record<string, Record<string, unknown>>;
  if (platform === 'slack') return String(b.text);
  if (platform === 'feishu') return JSON.stringify(b.content);
  return String(b.markdown!.text ?? b.markdown!.content);
}

const withBrokers = rabbitUp && kafkaUp ? describe : describe.skip;

withBrokers('a hub with every channel', () => {
  it('delivers the eviction, with the agent id and its requeued tasks, exactly once to each real consumer', async () => {
    const prefix = uniquePrefix('e2e');
    const webhook = await startHttpReceiver();
    const webhookStatuses: number[] = [];
    webhook.respond(() => {
      webhookStatuses.push(200);
      return { status: 200 };
    });
    cleanups.push(() => webhook.close());
    const im = await startHttpReceiver();
    im.respond((r) => ({ status: 200, body: IM_ROUTES[platformOf(r)].ok }));
    cleanups.push(() => im.close());
    const smtp = await startSmtpReceiver();
    cleanups.push(() => smtp.close());
    const kafka = await kafkaTopic(`${prefix}-events`);
    cleanups.push(() => kafka.close());
    const rabbit = await rabbitQueue(`${prefix}-x`, `${prefix}-q`);
    await rabbit.consume();
    cleanups.push(() => rabbit.close());

    const notifiers: Notifier[] = [
      new WebhookNotifier({ name: 'ops-webhook', url: `${webhook.url}/hooks/mcpmas`, secret: SECRET }),
      new KafkaNotifier({ name: 'ops-kafka', brokers: KAFKA_BROKERS, topic: `${prefix}-events` }),
      new RabbitMqNotifier({ name: 'ops-rabbit', url: RABBITMQ_URL, exchange: `${prefix}-x` }),
      new EmailNotifier({
        name: 'ops-mail',
        smtp: { host: '127.0.0.1', port: smtp.port, tls: { rejectUnauthorized: false } },
        from: 'hub@example.test',
        to: 'ops@example.test',
        windowMs: 300,
      }),
      ...(Object.keys(IM_ROUTES) as ImPlatform[]).map(
        (platform) =>
          new ImNotifier({
            platform,
            url: `${im.url}${IM_ROUTES[platform].path}`,
            ...(platform === 'dingtalk' || platform === 'feishu' ? { secret: 'SECx' } : {}),
          }),
      ),
    ];
    const hub = await startHub({ backend: createMemoryBackend(), notifiers });
    await eventually(() => hub.isLeader());
    const { agentId, taskIds } = await evictAnAgent(hub);
    const expected = { agentId, name: 'doomed worker', requeued: expect.arrayContaining(taskIds), dead: [] };

    // WebHook
    const hooked = await eventually(() => {
      const got = evictedOf(webhookEvents(webhook, webhookStatuses), agentId);
      return got.length ? got : null;
    }, 10_000);
    // Kafka (keyed by the agent id)
    const kafkaGot = await eventually(() => {
      const got = kafka.messages.filter(
        (m) => m.event.type === 'agent.evicted' && m.event.data.agentId === agentId,
      );
      return got.length ? got : null;
    }, 15_000);
    // RabbitMQ
    const rabbitGot = await eventually(() => {
      const got = evictedOf(rabbit.events, agentId);
      return got.length ? got : null;
    }, 10_000);
    // E-mail
    const mailed = await eventually(() => {
      const got = smtp.mails.flatMap((m) => evictedOf(m.events, agentId).map((e) => ({ e, m })));
      return got.length ? got : null;
    }, 10_000);
    // IM: every platform got one message naming the agent and its requeued tasks.
    const imGot = await eventually(() => {
      const texts = im.requests
        .map((r) => ({ platform: platformOf(r), text: imText(platformOf(r), r) }))
        .filter((x) => x.text.includes('agent.evicted') && x.text.includes(agentId));
      return texts.length >= 4 ? texts : null;
    }, 10_000);

    // Let any duplicate arrive before asserting there is none.
    await eventually(() => hub.deliveryStatus().every((c) => c.pending === 0 && c.state === 'idle'), 10_000);
    await new Promise((r) => setTimeout(r, 500));

    expect(evictedOf(webhookEvents(webhook, webhookStatuses), agentId)).toHaveLength(1);
    expect(hooked[0]!.data).toMatchObject(expected);
    expect(kafka.messages.filter((m) => m.event.type === 'agent.evicted')).toHaveLength(1);
    expect(kafkaGot[0]!.key).toBe(agentId);
    expect(kafkaGot[0]!.event.data).toMatchObject(expected);
    expect(evictedOf(rabbit.events, agentId)).toHaveLength(1);
    expect(rabbitGot[0]!.data).toMatchObject(expected);
    expect(smtp.mails.flatMap((m) => evictedOf(m.events, agentId))).toHaveLength(1);
    for (const id of taskIds) expect(mailed[0]!.m.mail.text).toMatch(new RegExp(`requeued: .*${id}`));
    expect(mailed[0]!.m.mail.subject).toMatch(/Agent evicted: doomed worker/);
    expect(imGot.map((x) => x.platform).sort()).toEqual(['dingtalk', 'feishu', 'slack', 'wecom']);
    for (const { text } of imGot) for (const id of taskIds) expect(text).toContain(id);

    const status = hub.deliveryStatus();
    expect(status.map((s) => s.channel).sort()).toEqual(
      ['dingtalk', 'feishu', 'ops-kafka', 'ops-mail', 'ops-rabbit', 'ops-webhook', 'slack', 'wecom'].sort(),
    );
    for (const s of status) expect(s).toMatchObject({ state: 'idle', pending: 0, failures: 0 });
    expect(((await hub.health()).notifications as unknown[]).length).toBe(8);
  }, 60_000);
});

describe('fault: the WebHook receiver answers 500 three times, then 200', () => {
  it('is delivered exactly once', async () => {
    const receiver = await startHttpReceiver();
    cleanups.push(() => receiver.close());
    const statuses: number[] = [];
    let evictedAttempts = 0;
    receiver.respond((r) => {
      let status = 200;
      if (r.headers['x-mcpmas-event-type'] === 'agent.evicted' && ++evictedAttempts <= 3) status = 500;
      statuses.push(status);
      return { status, body: status === 200 ? 'ok' : 'boom' };
    });
    // Two requests per notify, so the delivery loop's retry is exercised too.
    const notifier = new WebhookNotifier({
      url: `${receiver.url}/hook`,
      secret: SECRET,
      maxAttempts: 2,
      backoff: { baseMs: 20, maxMs: 50, jitter: 0.2 },
    });
    const hub = await startHub({ notifiers: [notifier] });
    await eventually(() => hub.isLeader());
    const { agentId, taskIds } = await evictAnAgent(hub);
    await eventually(() => evictedOf(webhookEvents(receiver, statuses), agentId).length === 1, 10_000);
    await eventually(() => hub.deliveryStatus()[0]!.pending === 0, 5000);
    await new Promise((r) => setTimeout(r, 300));
    expect(evictedAttempts).toBe(4);
    expect(evictedOf(webhookEvents(receiver, statuses), agentId)).toHaveLength(1);
    expect(sorted(evictedOf(webhookEvents(receiver, statuses), agentId)[0]!.data.requeued)).toEqual(
      sorted(taskIds),
    );
    expect(hub.deliveryStatus()[0]).toMatchObject({
      failures: 0,
      state: 'idle',
      lastError: expect.stringMatching(/HTTP 500/),
    });
  }, 30_000);
});

(rabbitctlUp ? describe : describe.skip)('fault: RabbitMQ restarted during delivery', () => {
  it('is delivered after the broker returns', async () => {
    const prefix = uniquePrefix('e2e-restart');
    const queue = await rabbitQueue(`${prefix}-x`, `${prefix}-q`);
    await queue.declare();
    cleanups.push(() => queue.close());
    const notifier = new RabbitMqNotifier({
      url: RABBITMQ_URL,
      exchange: `${prefix}-x`,
      connectionTimeoutMs: 1000,
    });
    const hub = await startHub({ notifiers: [notifier] });
    await eventually(() => hub.isLeader());
    // Connected and delivering before the outage.
    await eventually(() => notifier.connected && hub.deliveryStatus()[0]!.delivered >= 1, 10_000);

    await rabbitBroker.stop();
    let restarted = false;
    cleanups.push(async () => {
      if (!restarted) await rabbitBroker.start();
    });
    const { agentId, taskIds } = await evictAnAgent(hub);
    // The delivery loop tried during the outage and is backing off.
    await eventually(() => hub.deliveryStatus()[0]!.failures >= 1, 10_000);
    expect(hub.deliveryStatus()[0]).toMatchObject({
      state: 'retrying',
      lastError: expect.stringMatching(/rabbitmq/),
    });
    await rabbitBroker.start();
    restarted = true;

    await queue.consume();
    await eventually(() => evictedOf(queue.events, agentId).length === 1, 15_000);
    await eventually(() => hub.deliveryStatus()[0]!.pending === 0, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(evictedOf(queue.events, agentId)).toHaveLength(1);
    expect(sorted(evictedOf(queue.events, agentId)[0]!.data.requeued)).toEqual(sorted(taskIds));
  }, 90_000);
});

describe('fault: the leader dies between eviction and delivery', () => {
  it('the next leader delivers what the old one had not acknowledged', async () => {
    const backend: Backend = createMemoryBackend();
    cleanups.push(() => backend.close());
    const receiver = await startHttpReceiver();
    cleanups.push(() => receiver.close());
    const statuses: number[] = [];
    const hubOf: string[] = [];
    receiver.respond((r) => {
      statuses.push(200);
      hubOf.push(r.url);
      return { status: 200 };
    });
    // Same channel name on both hubs (as with one config), separate instances per process.
    const make = (hub: string) =>
      new WebhookNotifier({ name: 'ops-webhook', url: `${receiver.url}/${hub}`, secret: SECRET });
    // Hub A delivers only once per 10 minutes: it will "die" before delivering the eviction.
    const a = await startHub({
      hubId: 'hub-a',
      backend,
      notifiers: [make('hub-a')],
      delivery: { ...fast.delivery, pollIntervalMs: 600_000 },
    });
    await eventually(() => a.isLeader());
    const b = await startHub({ hubId: 'hub-b', backend, notifiers: [make('hub-b')] });
    expect(b.isLeader()).toBe(false);

    const { agentId, taskIds } = await evictAnAgent(a);
    const pending = await backend.outbox.read('ops-webhook', 100);
    expect(evictedOf(pending, agentId)).toHaveLength(1);
    expect(evictedOf(webhookEvents(receiver, statuses), agentId)).toHaveLength(0);

    await a.stop(); // the leader goes away without having delivered it
    await eventually(() => b.isLeader(), 5000);
    await eventually(() => evictedOf(webhookEvents(receiver, statuses), agentId).length === 1, 10_000);
    await eventually(() => b.deliveryStatus()[0]!.pending === 0, 5000);
    await new Promise((r) => setTimeout(r, 300));
    const delivered = receiver.requests.filter((r) => r.headers['x-mcpmas-event-type'] === 'agent.evicted');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.url).toBe('/hub-b');
    const data = (JSON.parse(delivered[0]!.body) as HubEvent).data;
    expect(data.agentId).toBe(agentId);
    expect(sorted(data.requeued)).toEqual(sorted(taskIds));
  }, 30_000);
});

describe('delivery loop', () => {
  it('sends a mass eviction through the e-mail batch path as one digest', async () => {
    const smtp = await startSmtpReceiver();
    cleanups.push(() => smtp.close());
    const notifier = new EmailNotifier({
      smtp: { host: '127.0.0.1', port: smtp.port, tls: { rejectUnauthorized: false } },
      from: 'hub@example.test',
      to: 'ops@example.test',
      windowMs: 400,
    });
    const hub = await startHub({ notifiers: [notifier] });
    await eventually(() => hub.isLeader());
    const d = hub.dispatcher;
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const { agentId } = await d.call(
        'agent.register',
        { name: `w${i}`, skills: [{ id: 'echo', name: 'Echo' }] },
        ctx,
      );
      ids.push(agentId);
    }
    await eventually(
      () => smtp.mails.some((m) => m.events.filter((e) => e.type === 'agent.evicted').length > 0),
      10_000,
    );
    await eventually(
      () => hub.deliveryStatus()[0]!.pending === 0 && hub.deliveryStatus()[0]!.state === 'idle',
      10_000,
    );
    const evictionMails = smtp.mails.filter((m) => m.events.some((e) => e.type === 'agent.evicted'));
    expect(evictionMails).toHaveLength(1);
    expect(
      evictionMails[0]!.events
        .filter((e) => e.type === 'agent.evicted')
        .map((e) => e.data.agentId)
        .sort(),
    ).toEqual(ids.sort());
    expect(evictionMails[0]!.mail.subject).toBe('[mcpmas] 40 events: 40 agents evicted');
    // Registrations went out as digests too, not one mail each.
    expect(smtp.mails.length).toBeLessThanOrEqual(3);
  }, 30_000);

  it('shows a WebHook endpoint disabled after repeated failures, and delivers once it recovers', async () => {
    const receiver = await startHttpReceiver();
    cleanups.push(() => receiver.close());
    let up = false;
    receiver.respond(() => (up ? { status: 200 } : { status: 503, body: 'down' }));
    const notifier = new WebhookNotifier({
      url: `${receiver.url}/hook`,
      secret: SECRET,
      maxAttempts: 1,
      disableAfterFailures: 2,
      cooldownMs: 1000,
    });
    const hub = await startHub({ notifiers: [notifier] });
    await eventually(() => hub.isLeader());
    const status = await eventually(() => {
      const s = hub.deliveryStatus()[0]!;
      return s.state === 'disabled' ? s : null;
    }, 10_000);
    expect(status.disabledUntil).toBe(notifier.state().disabledUntil);
    expect(status.lastError).toMatch(/HTTP 503: down/);
    expect(status.pending).toBeGreaterThanOrEqual(1);
    const attempts = receiver.requests.length;
    await new Promise((r) => setTimeout(r, 500));
    // Nothing is sent to a disabled endpoint before its cool-down ends.
    expect(receiver.requests.length).toBe(attempts);
    up = true;
    await eventually(
      () => hub.deliveryStatus()[0]!.pending === 0 && hub.deliveryStatus()[0]!.state === 'idle',
      10_000,
    );
    expect(notifier.state().status).toBe('active');
  }, 30_000);
});
