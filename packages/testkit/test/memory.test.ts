import {
  createMemoryBackend,
  MemoryElectionGroup,
  MemoryLeaderElector,
  MemoryOutbox,
  MemoryRegistry,
  MemoryTaskQueue,
} from '@mcpmas/core';
import { electorSuite, evictionSuite, outboxSuite, queueSuite, registrySuite } from '../src/index.js';

queueSuite(
  'memory',
  async (options) => {
    const backend = createMemoryBackend({ queue: options });
    return { queue: backend.queue, outbox: backend.outbox, close: () => backend.close() };
  },
  { completeAndLease: true, leaseWait: true },
);

registrySuite('memory', async () => {
  const outbox = new MemoryOutbox();
  return { registry: new MemoryRegistry({ outbox }), outbox, close: async () => undefined };
});

evictionSuite('memory', async (queue) => {
  const backend = createMemoryBackend({ queue });
  return { backend, close: () => backend.close() };
});

outboxSuite('memory', async () => ({ outbox: new MemoryOutbox(), close: async () => undefined }));

electorSuite('memory', async () => {
  const group = new MemoryElectionGroup();
  return {
    create: (hubId, options) => new MemoryLeaderElector(hubId, group, options),
    close: async () => undefined,
  };
});

// The standalone queue (no outbox) must behave the same.
queueSuite(
  'memory, standalone',
  async (options) => {
    const queue = new MemoryTaskQueue(options);
    return { queue, close: () => queue.close() };
  },
  { completeAndLease: true, leaseWait: true },
);
