/**
 * What the memory queue's long-poll does beyond the testkit's `leaseWait` section: a departed
 * agent's waits end, so nothing is leased to an agent that is gone.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { MemoryTaskQueue } from '../src/index.js';

describe('MemoryTaskQueue.leaseWait', () => {
  it.each(['unregistered', 'evicted'] as const)(
    'ends the waits of an agent that is %s, and leases nothing to them afterwards',
    async (reason) => {
      const queue = new MemoryTaskQueue();
      const gone = queue.leaseWait({ agentId: 'gone', capabilities: ['echo'], max: 1, waitMs: 10_000 });
      const other = queue.leaseWait({ agentId: 'other', capabilities: ['echo'], max: 1, waitMs: 10_000 });
      await queue.releaseAgent('gone', reason);
      expect(await gone).toEqual([]);
      // The next task goes to the agent still waiting, though the departed one waited longer.
      const { task } = await queue.submit({ capability: 'echo' });
      expect((await other).map((t) => t.taskId)).toEqual([task.id]);
      expect(await queue.leasedBy('gone')).toEqual([]);
      await queue.close();
    },
  );

  it('keeps waiting when the task made runnable is past its deadline, and times that task out', async () => {
    let now = 1_000_000;
    const queue = new MemoryTaskQueue({ clock: () => now });
    const { task: stale } = await queue.submit({ capability: 'echo', deadlineMs: 10 });
    await queue.lease({ agentId: 'x', capabilities: ['echo'], max: 1 });
    now += 20;
    let settled = false;
    const wait = queue.leaseWait({ agentId: 'a', capabilities: ['echo'], max: 1, waitMs: 10_000 });
    void wait.finally(() => {
      settled = true;
    });
    // Requeued past its deadline: served to nobody, timed out instead.
    await queue.releaseAgent('x', 'unregistered');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await queue.get(stale.id))?.state).toBe('timed_out');
    expect(settled).toBe(false);
    const { task } = await queue.submit({ capability: 'echo' });
    expect((await wait).map((t) => t.taskId)).toEqual([task.id]);
    await queue.close();
  });

  it('serves a waiting agent while a test runs on fake timers', async () => {
    jest.useFakeTimers();
    try {
      const queue = new MemoryTaskQueue();
      const wait = queue.leaseWait({ agentId: 'a', capabilities: ['echo'], max: 1, waitMs: 10_000 });
      const { task } = await queue.submit({ capability: 'echo' });
      expect((await wait).map((t) => t.taskId)).toEqual([task.id]);
      await queue.close();
    } finally {
      jest.useRealTimers();
    }
  });
});
