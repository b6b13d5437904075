import { RedisLeaderElector } from '@mcpmas/leader-election';
import { RedisRegistry } from '@mcpmas/redis-registry';
import { evictionSuite, outboxSuite, queueSuite, registrySuite } from '@mcpmas/testkit';
import { adminClient, dropNamespace, freshNamespace, REDIS_URL, redisUp } from '@mcpmas/testkit/redis';
import { createRedisBackend, RedisOutbox, RedisTaskQueue } from '../src/index.js';

/** A fresh namespace with a live leader, so leader-only calls run with a real fence. */
async function fixture(label: string) {
  const namespace = freshNamespace(label);
  const admin = adminClient();
  const elector = new RedisLeaderElector(`hub-${label}`, { redis: admin, namespace });
  await elector.start();
  return {
    namespace,
    fence: () => elector.fence() ?? undefined,
    close: async () => {
      await elector.stop();
      await dropNamespace(admin, namespace);
      await admin.quit();
    },
  };
}

if (redisUp) {
  queueSuite(
    'redis',
    async (options) => {
      const f = await fixture('queue');
      const queue = new RedisTaskQueue({ ...options, url: REDIS_URL, namespace: f.namespace });
      const outbox = new RedisOutbox({ redis: queue.client, namespace: f.namespace });
      return {
        queue,
        outbox,
        fence: f.fence,
        close: async () => {
          await queue.close();
          await f.close();
        },
      };
    },
    { completeAndLease: true, leaseWait: true },
  );

  registrySuite('redis, with the redis outbox', async () => {
    const f = await fixture('registry');
    const registry = new RedisRegistry({ url: REDIS_URL, namespace: f.namespace });
    const outbox = new RedisOutbox({ redis: registry.client, namespace: f.namespace });
    return {
      registry,
      outbox,
      fence: f.fence,
      close: async () => {
        await registry.close();
        await f.close();
      },
    };
  });

  evictionSuite('redis', async (queue) => {
    const namespace = freshNamespace('eviction');
    const backend = createRedisBackend({ url: REDIS_URL, namespace, queue });
    return {
      backend,
      close: async () => {
        await backend.close();
        const admin = adminClient();
        await dropNamespace(admin, namespace);
        await admin.quit();
      },
    };
  });

  outboxSuite('redis', async () => {
    const f = await fixture('outbox');
    const outbox = new RedisOutbox({ url: REDIS_URL, namespace: f.namespace });
    return {
      outbox,
      close: async () => {
        await outbox.close();
        await f.close();
      },
    };
  });
}
