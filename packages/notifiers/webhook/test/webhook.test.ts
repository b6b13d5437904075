import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ConfigError, type HubEvent, McpmasError } from '@mcpmas/core';
import {
  type HttpReceiver,
  notifierSuite,
  type ReceivedRequest,
  sampleEvent,
  startHttpReceiver,
} from '@mcpmas/testkit';
import {
  signWebhook,
  verifyWebhookSignature,
  WebhookNotifier,
  type WebhookNotifierOptions,
  type WebhookState,
} from '../src/index.js';

const SECRET = 'test-secret-0123456789';
const fast = { baseMs: 10, maxMs: 50, jitter: 0.2 };

/** The events a receiver accepted (2xx) and whose signature verifies. */
function accepted(receiver: HttpReceiver, ok: (r: ReceivedRequest, i: number) => boolean = () => true) {
  return receiver.requests
    .filter((r, i) => ok(r, i))
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

notifierSuite('webhook', async () => {
  const receiver = await startHttpReceiver();
  let broken = false;
  const statuses: number[] = [];
  receiver.respond(() => {
    const status = broken ? 503 : 200;
    statuses.push(status);
    return { status };
  });
  const notifier = new WebhookNotifier({
    url: `${receiver.url}/hook`,
    secret: SECRET,
    backoff: fast,
    maxAttempts: 2,
  });
  return {
    notifier,
    received: async () =>
      accepted(receiver, (_, i) => statuses[i] === 200).map((e) => ({
        id: e.id,
        type: e.type,
        data: e.data,
      })),
    breakDestination: async () => {
      broken = true;
    },
    restoreDestination: async () => {
      broken = false;
    },
    close: async () => {
      await notifier.close();
      await receiver.close();
    },
  };
});

describe('WebhookNotifier', () => {
  let receiver: HttpReceiver;
  const notifiers: WebhookNotifier[] = [];
  const make = (options: Partial<WebhookNotifierOptions> = {}) => {
    const n = new WebhookNotifier({ url: `${receiver.url}/hook`, secret: SECRET, backoff: fast, ...options });
    notifiers.push(n);
    return n;
  };
  beforeEach(async () => {
    receiver = await startHttpReceiver();
  });
  afterEach(async () => {
    for (const n of notifiers.splice(0)) await n.close();
    await receiver.close();
  });

  it('POSTs the event as JSON with a verifiable signature, timestamp and event headers', async () => {
    const event = sampleEvent();
    await make({ headers: { authorization: 'Bearer abc' } }).notify(event);
    expect(receiver.requests).toHaveLength(1);
    const [req] = receiver.requests;
    expect(req!.method).toBe('POST');
    expect(req!.url).toBe('/hook');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers.authorization).toBe('Bearer abc');
    expect(req!.headers['x-mcpmas-event-id']).toBe(event.id);
    expect(req!.headers['x-mcpmas-event-type']).toBe('agent.evicted');
    const ts = Number(req!.headers['x-mcpmas-timestamp']);
    expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(5);
    expect(req!.headers['x-mcpmas-signature']).toBe(signWebhook(SECRET, ts, req!.body));
    expect(JSON.parse(req!.body)).toEqual(event);
  });

  it('answered 500 three times then 200: retries inside notify and delivers exactly once', async () => {
    receiver.respond((_, i) => ({ status: i < 3 ? 500 : 200, body: i < 3 ? 'boom' : 'ok' }));
    const event = sampleEvent();
    const n = make();
    await n.notify(event);
    expect(receiver.requests).toHaveLength(4);
    expect(new Set(receiver.requests.map((r) => r.headers['x-mcpmas-event-id']))).toEqual(
      new Set([event.id]),
    );
    expect(accepted(receiver, (_, i) => i === 3)).toEqual([event]);
    expect(n.state()).toMatchObject({ status: 'active', consecutiveFailures: 0 });
  });

  it('does not retry an answer a retry cannot change (400), and says what the endpoint said', async () => {
    receiver.respond(() => ({ status: 400, body: 'bad payload' }));
    await expect(make().notify(sampleEvent())).rejects.toThrow(/HTTP 400: bad payload/);
    expect(receiver.requests).toHaveLength(1);
  });

  it('gives up after maxAttempts with a retryable UnavailableError', async () => {
    receiver.respond(() => ({ status: 503 }));
    const error = await make({ maxAttempts: 3 })
      .notify(sampleEvent())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpmasError);
    expect((error as McpmasError).code).toBe('UNAVAILABLE');
    expect((error as McpmasError).retryable).toBe(true);
    expect(receiver.requests).toHaveLength(3);
  });

  it('times out a request that never answers', async () => {
    receiver.respond(() => ({ status: 200, delayMs: Number.POSITIVE_INFINITY }));
    const started = Date.now();
    await expect(make({ timeoutMs: 200, maxAttempts: 2 }).notify(sampleEvent())).rejects.toThrow(
      /no answer within 200 ms/,
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(receiver.requests).toHaveLength(2);
  });

  it('disables a dead endpoint after N failed deliveries, reports it, and recovers after the cool-down', async () => {
    let up = false;
    receiver.respond(() => (up ? { status: 200 } : { status: 502, body: 'down' }));
    const changes: WebhookState[] = [];
    const n = make({
      maxAttempts: 1,
      disableAfterFailures: 2,
      cooldownMs: 400,
      onStateChange: (s) => changes.push(s),
    });
    await expect(n.notify(sampleEvent())).rejects.toThrow(/HTTP 502/);
    expect(n.state()).toMatchObject({ status: 'active', consecutiveFailures: 1 });
    await expect(n.notify(sampleEvent())).rejects.toThrow(/HTTP 502/);
    expect(n.state()).toMatchObject({
      status: 'disabled',
      consecutiveFailures: 2,
      lastError: 'HTTP 502: down',
    });
    expect(changes.map((c) => c.status)).toEqual(['disabled']);

    const before = receiver.requests.length;
    const refused = (await n.notify(sampleEvent()).catch((e: unknown) => e)) as McpmasError;
    expect(refused.message).toMatch(
      /webhook "webhook" is disabled after 2 consecutive failed deliveries until/,
    );
    expect(refused.details?.disabledUntil).toBe(n.state().disabledUntil);
    expect(receiver.requests.length).toBe(before);

    up = true;
    await new Promise((r) => setTimeout(r, 450));
    const event = sampleEvent();
    await n.notify(event);
    expect(n.state()).toMatchObject({ status: 'active', consecutiveFailures: 0 });
    expect(changes.map((c) => c.status)).toEqual(['disabled', 'active']);
  });

  it('refuses bad configuration naming the setting', () => {
    expect(() => new WebhookNotifier({ url: 'not a url', secret: SECRET })).toThrow(ConfigError);
    expect(() => new WebhookNotifier({ url: 'not a url', secret: SECRET })).toThrow(
      /webhook notifier "webhook": url must be an absolute http\(s\) URL/,
    );
    expect(() => new WebhookNotifier({ url: 'ftp://example.test/x', secret: SECRET })).toThrow(
      /url must use http/,
    );
    expect(() => new WebhookNotifier({ url: 'https://example.test/x', secret: '' })).toThrow(
      /secret is required/,
    );
    expect(
      () =>
        new WebhookNotifier({ name: 'ops', url: 'https://example.test/x', secret: SECRET, maxAttempts: 0 }),
    ).toThrow(/webhook notifier "ops": maxAttempts must be a positive integer/);
  });
});

describe('verifyWebhookSignature', () => {
  const body = '{"id":"1"}';
  const now = 1_800_000_000_000;
  const ts = now / 1000;
  const base = { secret: SECRET, body, timestamp: String(ts), signature: signWebhook(SECRET, ts, body), now };

  it('accepts the signature the sender computed, also among rotated ones', () => {
    expect(verifyWebhookSignature(base)).toBe(true);
    expect(verifyWebhookSignature({ ...base, signature: `v1=${'0'.repeat(64)}, ${base.signature}` })).toBe(
      true,
    );
    expect(verifyWebhookSignature({ ...base, body: Buffer.from(body) })).toBe(true);
  });

  it('refuses a changed body, another secret, a stale timestamp and malformed headers', () => {
    expect(verifyWebhookSignature({ ...base, body: '{"id":"2"}' })).toBe(false);
    expect(verifyWebhookSignature({ ...base, secret: 'other' })).toBe(false);
    expect(verifyWebhookSignature({ ...base, now: now + 301_000 })).toBe(false);
    expect(verifyWebhookSignature({ ...base, now: now + 301_000, toleranceSeconds: 600 })).toBe(true);
    expect(verifyWebhookSignature({ ...base, timestamp: undefined })).toBe(false);
    expect(verifyWebhookSignature({ ...base, timestamp: '12abc' })).toBe(false);
    expect(verifyWebhookSignature({ ...base, signature: 'v1=zz' })).toBe(false);
  });
});
