/**
 * The hub's eviction path: with `Backend.evictAgent` it evicts in one atomic call; without it
 * (an older or third-party backend) it falls back to `releaseAgent` then `registry.evict`.
 * Both report, count and tell plugins the same.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { type Backend, createMemoryBackend, type ReleasedTasks } from '@mcpmas/core';
import { Hub } from '@mcpmas/hub';

const skills = [{ id: 'echo', name: 'Echo' }];

describe('Hub eviction', () => {
  const hubs: Hub[] = [];
  afterEach(async () => {
    for (const hub of hubs.splice(0)) await hub.stop();
  });

  /** A started hub over `backend` whose clock the test moves. */
  const setup = async (atomic: boolean) => {
    let now = 1_000_000;
    const memory = createMemoryBackend({
      clock: () => now,
      queue: { crashBackoff: { baseMs: 0, maxMs: 0, jitter: 0 } },
    });
    const calls: string[] = [];
    const backend: Backend = {
      ...memory,
      evictAgent: atomic
        ? (agentId, olderThanMs, fence) => {
            calls.push('evictAgent');
            return memory.evictAgent!(agentId, olderThanMs, fence);
          }
        : undefined,
    };
    const releaseAgent = memory.queue.releaseAgent.bind(memory.queue);
    memory.queue.releaseAgent = (...args) => {
      calls.push(`releaseAgent:${args[1]}`);
      return releaseAgent(...args);
    };
    const hooked: Array<{ agentId: string } & ReleasedTasks> = [];
    const hub = new Hub({
      backend,
      heartbeat: { intervalMs: 100, timeoutMs: 1000 },
      sweepIntervalMs: 60_000,
      plugins: [{ name: 'watch', hooks: { evict: (e) => void hooked.push(e) } }],
    });
    hubs.push(hub);
    await hub.start();
    const advance = (ms: number) => {
      now += ms;
    };
    return { hub, memory, calls, hooked, advance };
  };

  for (const atomic of [true, false]) {
    it(`evicts a silent agent and requeues its task (${atomic ? 'atomic evictAgent' : 'two-step fallback'})`, async () => {
      const { hub, memory, calls, hooked, advance } = await setup(atomic);
      expect(hub.isLeader()).toBe(true);
      await memory.registry.register({ id: 'silent', name: 'S', skills });
      await memory.registry.register({ id: 'alive', name: 'A', skills });
      const { task } = await memory.queue.submit({ capability: 'echo' });
      await memory.queue.lease({ agentId: 'silent', capabilities: ['echo'], max: 1 });
      advance(1500);
      await memory.registry.heartbeat('alive');

      const report = await hub.sweep();
      expect(report).toMatchObject({ evicted: ['silent'], requeued: [task.id], dead: [] });
      expect(calls).toEqual(atomic ? ['evictAgent'] : ['releaseAgent:evicted']);
      expect(hooked).toEqual([{ agentId: 'silent', requeued: [task.id], dead: [] }]);
      expect(await memory.queue.get(task.id)).toMatchObject({ state: 'queued', attempts: 1 });
      expect(await memory.registry.get('alive')).not.toBeNull();
      const events = await memory.outbox.read('test', 100);
      expect(events.filter((e) => e.type === 'agent.evicted').map((e) => e.data)).toEqual([
        expect.objectContaining({ agentId: 'silent', requeued: [task.id], dead: [] }),
      ]);
      expect((await hub.metricsText()).body).toMatch(/mcpmas_agents_evicted_total\{hub="[^"]+"\} 1/);
    });
  }
});
