/** Test plumbing shared by this package's Redis tests. */
import { afterAll, afterEach, beforeAll, beforeEach } from '@jest/globals';
import { adminClient, dropNamespace, freshNamespace, REDIS_URL } from '@mcpmas/testkit/redis';
import type { Redis } from 'ioredis';
import { type RedisQueueOptions, RedisTaskQueue } from '../src/index.js';

export const noBackoff = { baseMs: 0, maxMs: 0, jitter: 0 };

/** Counts the EVALSHA calls a queue sends. */
export function countEvalsha(queue: RedisTaskQueue): { readonly calls: number; reset(): void } {
  const client = queue.client as Redis;
  const counter = { calls: 0, reset: () => (counter.calls = 0) };
  const original = client.evalsha.bind(client);
  client.evalsha = ((...args: Parameters<Redis['evalsha']>) => {
    counter.calls += 1;
    return original(...args);
  }) as Redis['evalsha'];
  return counter;
}

/** What {@link queueHarness} gives a test file. */
export interface QueueHarness {
  /** A Redis connection of the test's own. */
  readonly admin: Redis;
  /** The current test's namespace (a new one per test, dropped after it). */
  readonly namespace: string;
  /** A queue on its own connection (named `<namespace>:<name>`), as another hub process would have; closed after the test. */
  hub(name?: string, options?: RedisQueueOptions): RedisTaskQueue;
  /** Closes `closable` after the test. */
  track<T extends { close(): Promise<void> }>(closable: T): T;
}

/**
 * Registers the hooks of a Redis queue test file: an admin connection, a fresh namespace per
 * test, and after each test every queue opened closed and the namespace's keys dropped.
 */
export function queueHarness(label: string): QueueHarness {
  let admin: Redis | undefined;
  let namespace = '';
  const opened: Array<{ close(): Promise<void> }> = [];
  beforeAll(() => {
    admin = adminClient();
  });
  beforeEach(() => {
    namespace = freshNamespace(label);
  });
  afterEach(async () => {
    for (const closable of opened.splice(0)) await closable.close();
    await dropNamespace(admin!, namespace);
  });
  afterAll(async () => {
    await admin?.quit();
  });
  const harness: QueueHarness = {
    get admin() {
      return admin!;
    },
    get namespace() {
      return namespace;
    },
    hub: (name = 'hub', options = {}) =>
      harness.track(
        new RedisTaskQueue({
          url: REDIS_URL,
          namespace,
          crashBackoff: noBackoff,
          errorBackoff: noBackoff,
          redisOptions: { connectionName: `${namespace}:${name}` },
          ...options,
        }),
      ),
    track: (closable) => {
      opened.push(closable);
      return closable;
    },
  };
  return harness;
}
