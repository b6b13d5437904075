/**
 * `createRedisBackend`: the registry, queue, outbox and leader election of one namespace on
 * one shared Redis connection — everything a hub needs to run distributed.
 */
import type { Backend, ElectorOptions, QueueOptions } from '@mcpmas/core';
import { RedisLeaderElector } from '@mcpmas/leader-election';
import {
  checkNamespace,
  closeClient,
  openConnection,
  type RedisConnectionOptions,
} from '@mcpmas/redis-common';
import { RedisRegistry } from '@mcpmas/redis-registry';
import { RedisOutbox } from './outbox.js';
import { RedisTaskQueue } from './queue.js';

/** Options of {@link createRedisBackend}. */
export interface RedisBackendOptions extends RedisConnectionOptions {
  /** Queue behaviour (timeouts, budgets, backoff, retention). */
  queue?: Partial<QueueOptions>;
  /** Default leader-election timing of the electors the backend creates. */
  elector?: Partial<ElectorOptions>;
  /** Approximate length cap of the event stream. @default 10000 */
  maxEvents?: number;
}

/**
 * Creates the Redis backend. Hubs in different processes that use the same Redis and
 * namespace share one queue, one registry, one outbox and elect one leader.
 *
 * @example
 * const backend = createRedisBackend({ url: process.env.REDIS_URL, namespace: 'prod' });
 * const hub = new Hub({ backend });
 */
export function createRedisBackend(options: RedisBackendOptions = {}): Backend {
  const namespace = checkNamespace(options.namespace ?? 'mcpmas');
  const connection = openConnection(options, options.redisOptions?.connectionName ?? 'mcpmas:hub');
  const shared = { redis: connection.client, namespace };
  const maxEvents = options.maxEvents ?? 10_000;
  const registry = new RedisRegistry({ ...shared, maxEvents });
  const queue = new RedisTaskQueue({
    ...options.queue,
    ...shared,
    maxEvents,
    redisOptions: { connectionName: options.redisOptions?.connectionName ?? 'mcpmas:hub' },
  });
  const outbox = new RedisOutbox({ ...shared, maxEvents });
  const electors = new Set<RedisLeaderElector>();
  return {
    kind: 'redis',
    registry,
    queue,
    outbox,
    createElector: (hubId, electorOptions) => {
      const elector = new RedisLeaderElector(hubId, { ...shared, ...options.elector, ...electorOptions });
      electors.add(elector);
      return elector;
    },
    evictAgent: (agentId, olderThanMs, fence) => queue.evictAgent(agentId, olderThanMs, fence),
    close: async () => {
      for (const elector of electors) await elector.stop();
      await queue.close();
      await registry.close();
      await outbox.close();
      if (connection.owned) await closeClient(connection.client);
    },
  };
}
