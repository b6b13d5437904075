import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from '@jest/globals';
import { ConflictError, type EventOutbox, type HubEvent, UnsupportedError } from '@mcpmas/core';
import { RedisLeaderElector } from '@mcpmas/leader-election';
import { eventually, registrySuite } from '@mcpmas/testkit';
import {
  adminClient,
  describeRedis,
  dropNamespace,
  freshNamespace,
  killConnection,
  REDIS_URL,
  redisUp,
} from '@mcpmas/testkit/redis';
import type { Redis } from 'ioredis';
import { RedisRegistry, registryKeys } from '../src/index.js';

/**
 * Reads the registry's event stream for the suite. The real outbox (consumer groups, acks)
 * lives in @mcpmas/redis-queue, which runs this suite again with it.
 */
function streamReader(client: Redis, namespace: string): EventOutbox {
  const unsupported = async (): Promise<never> => {
    throw new UnsupportedError('test reader only reads');
  };
  return {
    append: unsupported,
    ack: unsupported,
    pending: unsupported,
    close: async () => undefined,
    read: async (_channel, max) => {
      const entries = await client.xrange(registryKeys(namespace).events, '-', '+', 'COUNT', max);
      return entries.map(([id, fields]): HubEvent => {
        const f: Record<string, string> = {};
        for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
        return { id, type: f.type as HubEvent['type'], at: Number(f.at), data: JSON.parse(f.data ?? '{}') };
      });
    },
  };
}

if (redisUp) {
  registrySuite('redis', async () => {
    const namespace = freshNamespace('registry');
    const admin = adminClient();
    const registry = new RedisRegistry({ url: REDIS_URL, namespace });
    const elector = new RedisLeaderElector('hub-suite', { redis: admin, namespace });
    await elector.start();
    return {
      registry,
      outbox: streamReader(admin, namespace),
      fence: () => elector.fence() ?? undefined,
      close: async () => {
        await elector.stop();
        await registry.close();
        await dropNamespace(admin, namespace);
        await admin.quit();
      },
    };
  });
}

describeRedis('RedisRegistry', () => {
  let admin: Redis;
  let namespace: string;
  let registry: RedisRegistry;
  const skills = [{ id: 'echo', name: 'Echo' }];
  beforeAll(() => {
    admin = adminClient();
  });
  beforeEach(() => {
    namespace = freshNamespace('registry');
    registry = new RedisRegistry({
      url: REDIS_URL,
      namespace,
      redisOptions: { connectionName: `${namespace}:registry` },
    });
  });
  afterEach(async () => {
    await registry.close();
    await dropNamespace(admin, namespace);
  });
  afterAll(async () => {
    await admin.quit();
  });

  it('keeps every key under the namespace hash tag', async () => {
    await registry.register({ id: 'a1', name: 'A', skills });
    await registry.heartbeat('a1', { running: 1, capacity: 2 });
    const keys = await admin.keys(`*${namespace}*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key.startsWith(`{${namespace}}:`)).toBe(true);
  });

  it('refuses an eviction whose fence is stale, and evicts nothing', async () => {
    const elector = new RedisLeaderElector('hub-a', { redis: admin, namespace });
    await elector.start();
    const stale = elector.fence()!;
    await registry.register({ id: 'gone', name: 'G', skills });
    await new Promise((r) => setTimeout(r, 20));
    // A new leadership begins (e.g. hub-a's lease lapsed and it re-acquired): epoch + 1.
    await elector.stop();
    await elector.start();
    expect(elector.fence()!.epoch).toBe(stale.epoch + 1);
    await expect(registry.evict('gone', 10, { requeued: [], dead: [] }, stale)).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(await registry.get('gone')).not.toBeNull();
    expect(await registry.evict('gone', 10, { requeued: [], dead: [] }, elector.fence()!)).toBe(true);
    await elector.stop();
    // No leader at all: every fence is refused.
    await expect(
      registry.evict('x', 10, { requeued: [], dead: [] }, { hubId: 'hub-a', epoch: stale.epoch + 1 }),
    ).rejects.toBeInstanceOf(ConflictError);
  });

  it('judges staleness by the Redis clock, not the local one', async () => {
    await registry.register({ id: 'a1', name: 'A', skills });
    const realNow = Date.now;
    Date.now = () => realNow() + 10 * 60_000;
    try {
      expect(await registry.stale(60_000)).toEqual([]);
      expect(Math.abs((await registry.now()) - realNow())).toBeLessThan(5000);
    } finally {
      Date.now = realNow;
    }
  });

  it('survives SCRIPT FLUSH and a killed connection', async () => {
    await registry.register({ id: 'a1', name: 'A', skills });
    await admin.script('FLUSH');
    expect((await registry.heartbeat('a1')).id).toBe('a1');
    expect(await killConnection(admin, `${namespace}:registry`)).toBe(1);
    await eventually(async () => (await registry.get('a1'))?.id === 'a1', 5000);
  });
});
