/**
 * Regression: the SDK's Streamable HTTP client hands one transport-wide AbortSignal to every
 * fetch, so N concurrent calls add N abort listeners to it (MaxListenersExceededWarning, and
 * a leak under load). McpTransport gives each call its own signal.
 */
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { McpTransport } from '../src/index.js';
import { KEYS, startHub, type TestHub } from './helpers.js';

let hub: TestHub;
const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);

beforeAll(async () => {
  hub = await startHub();
  process.on('warning', onWarning);
});
afterAll(async () => {
  process.off('warning', onWarning);
  await hub.close();
});

const CONCURRENT = 200;
const listenerWarnings = () => warnings.filter((w) => w.name === 'MaxListenersExceededWarning');
/** Warnings are emitted on the next tick; give them a moment to arrive. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

/**
 * A fetch that records, for every request, the signal it was given and how many abort
 * listeners that signal carries while the request is in flight.
 */
function recordingFetch() {
  const signals = new Set<AbortSignal>();
  let maxListeners = 0;
  let requests = 0;
  const fetchLike = async (input: string | URL, init?: RequestInit) => {
    requests += 1;
    const signal = init?.signal ?? undefined;
    if (signal) signals.add(signal);
    const response = await fetch(input, init);
    if (signal) maxListeners = Math.max(maxListeners, getEventListeners(signal, 'abort').length);
    return response;
  };
  return {
    fetch: fetchLike,
    get stats() {
      return { signals: signals.size, maxListeners, requests };
    },
  };
}

describe(`${CONCURRENT} concurrent calls`, () => {
  for (const negotiation of ['legacy', 'auto'] as const) {
    it(`use one signal per request and raise no MaxListenersExceededWarning (${negotiation} negotiation)`, async () => {
      warnings.length = 0;
      const recorder = recordingFetch();
      const transport = new McpTransport({
        url: hub.mcpUrl,
        apiKey: KEYS.admin,
        negotiation,
        fetch: recorder.fetch,
      });
      await transport.start();
      try {
        const replies = await Promise.all(
          Array.from({ length: CONCURRENT }, (_, i) =>
            transport.sendMessage('agent.heartbeat', { agentId: `missing-${i}` }).catch((e: Error) => e.name),
          ),
        );
        expect(replies.every((r) => r === 'NotFoundError')).toBe(true);
        const listed = await Promise.all(
          Array.from({ length: CONCURRENT }, () => transport.sendMessage('agents.status', {})),
        );
        expect(listed).toHaveLength(CONCURRENT);
        await settle();
        expect(listenerWarnings()).toEqual([]);
        const { signals, maxListeners, requests } = recorder.stats;
        expect(requests).toBeGreaterThanOrEqual(2 * CONCURRENT);
        expect(signals).toBe(requests);
        expect(maxListeners).toBeLessThanOrEqual(3);
      } finally {
        await transport.stop();
      }
    });
  }

  it('control: the bare SDK client shares one signal across every in-flight request', async () => {
    const recorder = recordingFetch();
    const client = new Client({ name: 'control', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(hub.mcpUrl), {
        requestInit: { headers: { authorization: `Bearer ${KEYS.admin}` } },
        fetch: recorder.fetch,
      }),
    );
    try {
      await Promise.all(
        Array.from({ length: CONCURRENT }, () => client.callTool({ name: 'list_agents', arguments: {} })),
      );
      const { signals, maxListeners, requests } = recorder.stats;
      expect(requests).toBeGreaterThan(CONCURRENT);
      expect(signals).toBeLessThan(5);
      expect(maxListeners).toBeGreaterThan(CONCURRENT / 2);
    } finally {
      await client.close();
    }
  });
});
