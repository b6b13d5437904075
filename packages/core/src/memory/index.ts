/** The embedded in-memory backend: registry, queue, outbox and elector sharing one clock. */
import type { Backend, ElectorOptions, QueueOptions } from '../interfaces.js';
import { MemoryElectionGroup, MemoryLeaderElector } from './elector.js';
import { MemoryOutbox } from './outbox.js';
import { MemoryTaskQueue } from './queue.js';
import { MemoryRegistry } from './registry.js';

export {
  DEFAULT_ELECTOR_OPTIONS,
  type FenceCheck,
  MemoryElectionGroup,
  MemoryLeaderElector,
} from './elector.js';
export { MemoryOutbox, type MemoryOutboxOptions } from './outbox.js';
export { DEFAULT_QUEUE_OPTIONS, type MemoryQueueOptions, MemoryTaskQueue, staleLease } from './queue.js';
export { MemoryRegistry, type MemoryRegistryOptions } from './registry.js';

/** Options of {@link createMemoryBackend}. */
export interface MemoryBackendOptions {
  queue?: Partial<QueueOptions>;
  elector?: Partial<ElectorOptions>;
  /** Time source shared by every part. @default Date.now */
  clock?: () => number;
  /** Most outbox events kept. @default 10000 */
  maxEvents?: number;
}

/**
 * Creates the in-memory backend. Hubs in one process that share the returned object behave
 * like hubs sharing one Redis: one leader, one queue, one registry.
 */
export function createMemoryBackend(options: MemoryBackendOptions = {}): Backend {
  const clock = options.clock ?? Date.now;
  const group = new MemoryElectionGroup(clock);
  const outbox = new MemoryOutbox({ clock, fenceCheck: group.check, maxEvents: options.maxEvents ?? 10_000 });
  const queue = new MemoryTaskQueue({ ...options.queue, outbox, clock, fenceCheck: group.check });
  const registry = new MemoryRegistry({ outbox, clock, fenceCheck: group.check });
  return {
    kind: 'memory',
    registry,
    queue,
    outbox,
    createElector: (hubId, electorOptions) =>
      new MemoryLeaderElector(hubId, group, { ...options.elector, ...electorOptions }),
    // Everything below runs synchronously, so no other call can interleave: atomic.
    evictAgent: async (agentId, olderThanMs, fence) => {
      const released = registry.evictNow(
        agentId,
        olderThanMs,
        () => queue.releaseAgentNow(agentId, 'evicted', fence),
        fence,
      );
      return released ? { evicted: true, ...released } : { evicted: false, requeued: [], dead: [] };
    },
    close: async () => {
      await queue.close();
      await registry.close();
      await outbox.close();
    },
  };
}
