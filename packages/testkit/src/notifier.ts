/**
 * `notifierSuite`: every notification channel delivers each event to its real consumer, once,
 * with the event's id, type and data; reports an unreachable destination by rejecting (so the
 * hub's delivery loop retries); and closes cleanly.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { HubEvent, Notifier } from '@mcpmas/core';
import { eventually } from './services.js';

/** One notification as the channel's real consumer saw it, decoded by the harness. */
export interface ReceivedNotification {
  /** The outbox event id the notification carries. */
  id: string;
  type: string;
  /** The event data, when the channel carries it whole (JSON channels). */
  data?: Record<string, unknown>;
  /** The human-readable rendering, for channels that carry text (e-mail, IM). */
  text?: string;
}

/** What a notifier factory returns: the notifier wired to a consumer the test controls. */
export interface NotifierHarness {
  notifier: Notifier;
  /** Everything the consumer has received so far, in arrival order. */
  received(): Promise<ReceivedNotification[]>;
  /**
   * Makes the destination refuse or unreachable. Omit it if the harness cannot; the failure
   * test is then shown as skipped.
   */
  breakDestination?(): Promise<void>;
  /** Undoes {@link NotifierHarness.breakDestination}. */
  restoreDestination?(): Promise<void>;
  /** Closes the notifier (if the test has not) and the consumer. */
  close(): Promise<void>;
}

/** Declared behaviour of the channel under test. */
export interface NotifierSuiteOptions {
  /** Events sent one after another arrive in that order. @default true */
  ordered?: boolean;
  /** How long to wait for the consumer. @default 10000 */
  timeoutMs?: number;
  /** The notifier has `notifyBatch` and `batching`. Without it the batch test is skipped. @default false */
  batch?: boolean;
  /**
   * The harness implements `breakDestination` and `restoreDestination`. Without it the
   * failure test is skipped. @default true
   */
  faults?: boolean;
}

let sequence = 0;

/** A realistic eviction event with a unique id. */
export function sampleEvent(
  type: HubEvent['type'] = 'agent.evicted',
  data?: Record<string, unknown>,
): HubEvent {
  sequence += 1;
  const id = `${Date.now().toString().padStart(13, '0')}${String(sequence).padStart(6, '0')}`;
  return {
    id,
    type,
    at: Date.now(),
    data: data ?? {
      agentId: `agent-${sequence}`,
      name: `worker ${sequence}`,
      lastHeartbeat: Date.now() - 20_000,
      requeued: [`task-${sequence}-a`, `task-${sequence}-b`],
      dead: [],
    },
  };
}

/** Every string (and number) leaf of `value`, for checking a text rendering mentions them. */
function leaves(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value === 'number') return [];
  if (Array.isArray(value)) return value.flatMap(leaves);
  if (value && typeof value === 'object') return Object.values(value).flatMap(leaves);
  return [];
}

/** Runs the notifier conformance suite against `factory`. */
export function notifierSuite(
  name: string,
  factory: () => Promise<NotifierHarness>,
  options: NotifierSuiteOptions = {},
): void {
  const ordered = options.ordered ?? true;
  const timeoutMs = options.timeoutMs ?? 10_000;

  describe(`notifierSuite: ${name}`, () => {
    let harness: NotifierHarness | undefined;
    afterEach(async () => {
      await harness?.close();
      harness = undefined;
    });

    const expectDelivered = (got: ReceivedNotification, event: HubEvent) => {
      expect({ id: got.id, type: got.type }).toEqual({ id: event.id, type: event.type });
      if (got.data !== undefined) {
        expect(got.data).toEqual(event.data);
      } else {
        expect(typeof got.text).toBe('string');
        for (const leaf of leaves(event.data)) expect(got.text).toContain(leaf);
      }
    };

    it('has a non-empty channel name', async () => {
      harness = await factory();
      expect(typeof harness.notifier.name).toBe('string');
      expect(harness.notifier.name.length).toBeGreaterThan(0);
    });

    it('delivers one event exactly once, with its id, type and data', async () => {
      harness = await factory();
      const event = sampleEvent();
      await harness.notifier.notify(event);
      const got = await eventually(async () => {
        const all = await harness!.received();
        return all.length > 0 ? all : null;
      }, timeoutMs);
      // Give a duplicate the chance to show up before asserting there is none.
      await new Promise((r) => setTimeout(r, 300));
      const all = await harness.received();
      expect(all).toHaveLength(1);
      expectDelivered(got[0]!, event);
    });

    it(`delivers several events${ordered ? ' in order' : ''}, each once`, async () => {
      harness = await factory();
      const events = [
        sampleEvent('agent.registered', { agentId: 'agent-r', name: 'worker r', skills: ['echo'] }),
        sampleEvent(),
        sampleEvent('task.dead', { taskId: 'task-d', capability: 'echo', attempts: 3 }),
      ];
      for (const event of events) await harness.notifier.notify(event);
      const all = await eventually(async () => {
        const got = await harness!.received();
        return got.length >= events.length ? got : null;
      }, timeoutMs);
      expect(all).toHaveLength(events.length);
      const byId = new Map(all.map((r) => [r.id, r]));
      if (ordered) expect(all.map((r) => r.id)).toEqual(events.map((e) => e.id));
      for (const event of events) expectDelivered(byId.get(event.id)!, event);
    });

    it('resolves every concurrent notify and delivers each event', async () => {
      harness = await factory();
      const events = [sampleEvent(), sampleEvent(), sampleEvent(), sampleEvent()];
      await Promise.all(events.map((e) => harness!.notifier.notify(e)));
      const all = await eventually(async () => {
        const got = await harness!.received();
        return got.length >= events.length ? got : null;
      }, timeoutMs);
      expect(all.map((r) => r.id).sort()).toEqual(events.map((e) => e.id).sort());
    });

    it(`${options.batch ? 'has' : 'declares no'} batch path`, async () => {
      harness = await factory();
      if (options.batch) {
        expect(typeof harness.notifier.notifyBatch).toBe('function');
        expect(harness.notifier.batching?.maxEvents).toBeGreaterThan(0);
        expect(harness.notifier.batching?.windowMs).toBeGreaterThanOrEqual(0);
      } else {
        expect(harness.notifier.notifyBatch).toBeUndefined();
        expect(harness.notifier.batching).toBeUndefined();
      }
    });

    (options.batch ? it : it.skip)('delivers a batch given to notifyBatch', async () => {
      harness = await factory();
      const events = [sampleEvent(), sampleEvent(), sampleEvent()];
      await harness.notifier.notifyBatch!(events);
      const all = await eventually(async () => {
        const got = await harness!.received();
        return got.length >= events.length ? got : null;
      }, timeoutMs);
      expect(all.map((r) => r.id).sort()).toEqual(events.map((e) => e.id).sort());
    });

    const faults = options.faults ?? true;
    (faults ? it : it.skip)(
      'rejects while the destination is unavailable, then delivers once it is back',
      async () => {
        harness = await factory();
        if (!harness.breakDestination || !harness.restoreDestination) {
          throw new Error('the harness declares faults but has no breakDestination/restoreDestination');
        }
        await harness.breakDestination();
        const event = sampleEvent();
        await expect(harness.notifier.notify(event)).rejects.toThrow();
        await harness.restoreDestination();
        await eventually(
          async () => {
            await harness!.notifier.notify(event);
            return true;
          },
          timeoutMs,
          200,
        );
        const all = await eventually(async () => {
          const got = await harness!.received();
          return got.some((r) => r.id === event.id) ? got : null;
        }, timeoutMs);
        expect(all.filter((r) => r.id === event.id).length).toBeGreaterThanOrEqual(1);
      },
    );

    it('closes cleanly, twice, and refuses to notify afterwards', async () => {
      harness = await factory();
      await harness.notifier.close?.();
      await harness.notifier.close?.();
      await expect(harness.notifier.notify(sampleEvent())).rejects.toThrow();
    });
  });
}

/** One request an {@link HttpReceiver} got. */
export interface ReceivedRequest {
  method: string;
  /** Path and query string. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw body, as received. */
  body: string;
}

/** What a receiver answers: a status, and a body (objects are sent as JSON). */
export interface ReceiverReply {
  status: number;
  body?: string | Record<string, unknown>;
  headers?: Record<string, string>;
  /** Hold the answer this long (or forever with `Infinity`, until the receiver closes). */
  delayMs?: number;
}

/** A local HTTP server standing in for a WebHook or IM endpoint. */
export interface HttpReceiver {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Every request so far, in arrival order. */
  requests: ReceivedRequest[];
  /** Sets how the receiver answers; `index` counts requests from 0. @default 200 `{"ok":true}` */
  respond(handler: (request: ReceivedRequest, index: number) => ReceiverReply): void;
  /** Closes the server and every open connection. */
  close(): Promise<void>;
}

/** Starts an {@link HttpReceiver} on 127.0.0.1, on a free port. */
export async function startHttpReceiver(): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  let handler: (request: ReceivedRequest, index: number) => ReceiverReply = () => ({
    status: 200,
    body: { ok: true },
  });
  const held = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request: ReceivedRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const index = requests.length;
      requests.push(request);
      const reply = handler(request, index);
      const send = () => {
        const body = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(body);
      };
      if (reply.delayMs === undefined) return send();
      if (reply.delayMs === Number.POSITIVE_INFINITY) return;
      const timer = setTimeout(() => {
        held.delete(timer);
        send();
      }, reply.delayMs);
      held.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    respond: (next) => {
      handler = next;
    },
    close: async () => {
      for (const t of held) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
