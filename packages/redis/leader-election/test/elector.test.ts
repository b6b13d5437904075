import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from '@jest/globals';
import { electorSuite, eventually } from '@mcpmas/testkit';
import {
  adminClient,
  describeRedis,
  dropNamespace,
  freshNamespace,
  killConnection,
  REDIS_URL,
  RedisProxy,
  redisUp,
} from '@mcpmas/testkit/redis';
import type { Redis } from 'ioredis';
import { RedisLeaderElector } from '../src/index.js';

if (redisUp) {
  electorSuite('redis', async () => {
    const namespace = freshNamespace('elector');
    const created: RedisLeaderElector[] = [];
    return {
      create: (hubId, options) => {
        const elector = new RedisLeaderElector(hubId, { url: REDIS_URL, namespace, ...options });
        created.push(elector);
        return elector;
      },
      close: async () => {
        for (const e of created) await e.close();
        const admin = adminClient();
        await dropNamespace(admin, namespace);
        await admin.quit();
      },
    };
  });
}

describeRedis('RedisLeaderElector', () => {
  let admin: Redis;
  let namespace: string;
  const electors: RedisLeaderElector[] = [];
  const create = (hubId: string, ttlMs = 600, renewIntervalMs = 100) => {
    const elector = new RedisLeaderElector(hubId, {
      url: REDIS_URL,
      namespace,
      ttlMs,
      renewIntervalMs,
      redisOptions: { connectionName: `${namespace}:${hubId}` },
    });
    electors.push(elector);
    return elector;
  };
  beforeAll(() => {
    admin = adminClient();
  });
  beforeEach(() => {
    namespace = freshNamespace('elector');
  });
  afterEach(async () => {
    for (const e of electors.splice(0)) await e.close();
    await dropNamespace(admin, namespace);
  });
  afterAll(async () => {
    await admin.quit();
  });

  it('takes over within the lease TTL when the leader vanishes without releasing', async () => {
    const a = create('hub-a');
    await a.start();
    expect(a.isLeader()).toBe(true);
    const epochA = a.fence()!.epoch;
    const b = create('hub-b');
    await b.start();
    expect(b.isLeader()).toBe(false);
    // Simulate a crash: stop renewing without releasing the lease.
    clearInterval((a as unknown as { timer: NodeJS.Timeout }).timer);
    const started = Date.now();
    await eventually(() => b.isLeader(), 2000, 10);
    expect(Date.now() - started).toBeLessThan(600 + 100 * 3);
    expect(b.fence()!.epoch).toBeGreaterThan(epochA);
    expect(await b.leader()).toEqual({ hubId: 'hub-b', epoch: b.fence()!.epoch });
  });

  it('reports the loss at once when its renew finds another holder', async () => {
    const a = create('hub-a');
    const changes: boolean[] = [];
    a.onChange((s) => changes.push(s.isLeader));
    await a.start();
    expect(a.isLeader()).toBe(true);
    // Someone else took the lease (e.g. ours expired during a long pause).
    await admin.set(`{${namespace}}:leader`, 'intruder hub-x', 'PX', 5000);
    await eventually(() => !a.isLeader(), 1000, 10);
    expect(changes).toEqual([true, false]);
  });

  it('drops leadership when its connection is killed, then leads again after reconnecting', async () => {
    const a = create('hub-a');
    const changes: boolean[] = [];
    a.onChange((s) => changes.push(s.isLeader));
    await a.start();
    const epoch = a.fence()!.epoch;
    expect(await killConnection(admin, `${namespace}:hub-a`)).toBe(1);
    await eventually(() => changes.includes(false), 2000, 5);
    // Its lease is still in Redis, so it renews it on reconnect with the same epoch.
    await eventually(() => a.isLeader(), 3000, 20);
    expect(a.fence()!.epoch).toBe(epoch);
  });

  it('drops leadership before the lease could expire when Redis stops answering', async () => {
    const proxy = new RedisProxy();
    const url = await proxy.start();
    const a = new RedisLeaderElector('hub-a', { url, namespace, ttlMs: 1000, renewIntervalMs: 200 });
    electors.push(a);
    try {
      await a.start();
      expect(a.isLeader()).toBe(true);
      proxy.freeze();
      const t0 = Date.now();
      await eventually(() => !a.isLeader(), 2000, 10);
      // Gone before the 1000 ms lease could lapse in Redis and another hub take over.
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      proxy.thaw();
      await a.close();
      await proxy.stop();
    }
  });

  it('never has two leaders among many electors campaigning at once', async () => {
    const hubs = Array.from({ length: 8 }, (_, i) => create(`hub-${i}`));
    await Promise.all(hubs.map((h) => h.start()));
    for (let i = 0; i < 5; i++) {
      expect(hubs.filter((h) => h.isLeader())).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('refuses a renew interval that is not below the TTL', () => {
    expect(() => new RedisLeaderElector('x', { url: REDIS_URL, ttlMs: 100, renewIntervalMs: 100 })).toThrow(
      /renewIntervalMs must be less than ttlMs/,
    );
  });
});
