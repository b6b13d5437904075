/**
 * `evictionSuite`: `Backend.evictAgent`, the eviction of a stale agent and the release of its
 * tasks as one atomic step. A backend without `evictAgent` is shown as skipped.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  type Backend,
  ConflictError,
  type HubEvent,
  type LeaderElector,
  NotFoundError,
  type QueueOptions,
} from '@mcpmas/core';
import { delay } from './services.js';

/** What an eviction factory returns: a fresh, empty backend. */
export interface EvictionHarness {
  backend: Backend;
  close(): Promise<void>;
}

/** Creates a fresh backend whose queue uses `queue` options. */
export type EvictionFactory = (queue: Partial<QueueOptions>) => Promise<EvictionHarness>;

const skills = [{ id: 'echo', name: 'Echo' }];
const noBackoff = { baseMs: 0, maxMs: 0, jitter: 0 };

/** What the backend under test declares. */
export interface EvictionSuiteOptions {
  /**
   * False for a backend without `Backend.evictAgent`: the suite is shown as skipped (the hub
   * falls back to two steps there). @default true
   */
  atomic?: boolean;
}

/** Runs the atomic-eviction conformance suite against `factory`. */
export function evictionSuite(
  name: string,
  factory: EvictionFactory,
  options: EvictionSuiteOptions = {},
): void {
  if (options.atomic === false) {
    describe.skip(`evictionSuite: ${name} (declares no Backend.evictAgent)`, () => {
      it('evicts atomically', () => undefined);
    });
    return;
  }
  describe(`evictionSuite: ${name}`, () => {
    let harness: EvictionHarness | undefined;
    let elector: LeaderElector | undefined;
    /** A backend with a leader, so the fence is real. */
    const open = async () => {
      harness = await factory({ crashBackoff: noBackoff, errorBackoff: noBackoff });
      elector = harness.backend.createElector('hub-eviction', { ttlMs: 5000, renewIntervalMs: 1000 });
      await elector.start();
      const fence = elector.fence();
      if (!fence) throw new Error('the only elector of a fresh backend must lead');
      const evictAgent = harness.backend.evictAgent;
      if (!evictAgent) throw new Error('the backend declares atomic eviction but has no evictAgent');
      return {
        ...harness.backend,
        fence,
        evictAgent: evictAgent.bind(harness.backend),
        events: (): Promise<HubEvent[]> => harness!.backend.outbox.read(`suite-${Math.random()}`, 10_000),
      };
    };
    afterEach(async () => {
      await elector?.stop();
      await harness?.close();
      harness = undefined;
      elector = undefined;
    });

    it('evicts a stale agent, requeues or dead-letters its tasks and records one event', async () => {
      const b = await open();
      await b.registry.register({ id: 'gone', name: 'Gone', skills });
      const { task: again } = await b.queue.submit({ capability: 'echo', payload: 1, maxAttempts: 3 });
      const { task: spent } = await b.queue.submit({ capability: 'echo', payload: 2, maxAttempts: 1 });
      const leased = await b.queue.lease({ agentId: 'gone', capabilities: ['echo'], max: 2 });
      expect(leased.map((t) => t.taskId)).toEqual([again.id, spent.id]);
      await delay(60);

      const outcome = await b.evictAgent('gone', 50, b.fence);
      expect(outcome).toEqual({ evicted: true, requeued: [again.id], dead: [spent.id] });
      expect(await b.registry.get('gone')).toBeNull();
      await expect(b.registry.heartbeat('gone')).rejects.toBeInstanceOf(NotFoundError);
      expect(await b.queue.leasedBy('gone')).toEqual([]);
      expect(await b.queue.get(again.id)).toMatchObject({ state: 'queued', attempts: 1 });
      expect(await b.queue.get(spent.id)).toMatchObject({ state: 'dead', attempts: 1 });
      const [next] = await b.queue.lease({ agentId: 'other', capabilities: ['echo'], max: 5 });
      expect(next?.taskId).toBe(again.id);

      const events = await b.events();
      const evicted = events.filter((e) => e.type === 'agent.evicted');
      expect(evicted).toHaveLength(1);
      expect(evicted[0]!.data).toMatchObject({
        agentId: 'gone',
        name: 'Gone',
        requeued: [again.id],
        dead: [spent.id],
      });
      expect(typeof evicted[0]!.data.lastHeartbeat).toBe('number');
      expect(events.filter((e) => e.type === 'task.dead').map((e) => e.data.taskId)).toEqual([spent.id]);

      // A second eviction finds nothing to do.
      expect(await b.evictAgent('gone', 50, b.fence)).toEqual({ evicted: false, requeued: [], dead: [] });
      expect((await b.events()).filter((e) => e.type === 'agent.evicted')).toHaveLength(1);
    });

    it('leaves an agent that heart-beated since, and its tasks, untouched', async () => {
      const b = await open();
      await b.registry.register({ id: 'back', name: 'Back', skills });
      const { task } = await b.queue.submit({ capability: 'echo' });
      await b.queue.lease({ agentId: 'back', capabilities: ['echo'], max: 1 });
      await delay(60);
      expect(await b.registry.stale(50)).toEqual(['back']);
      await b.registry.heartbeat('back');
      expect(await b.evictAgent('back', 50, b.fence)).toEqual({ evicted: false, requeued: [], dead: [] });
      expect(await b.registry.get('back')).not.toBeNull();
      expect(await b.queue.get(task.id)).toMatchObject({ state: 'leased', agentId: 'back', attempts: 0 });
      expect(await b.queue.leasedBy('back')).toEqual([task.id]);
      expect(await b.evictAgent('nobody', 0, b.fence)).toEqual({ evicted: false, requeued: [], dead: [] });
      expect((await b.events()).filter((e) => e.type === 'agent.evicted')).toEqual([]);
    });

    it('evicts an agent holding nothing with an event listing no tasks', async () => {
      const b = await open();
      await b.registry.register({ id: 'idle', name: 'Idle', skills });
      await delay(60);
      expect(await b.evictAgent('idle', 50, b.fence)).toEqual({ evicted: true, requeued: [], dead: [] });
      const [event] = (await b.events()).filter((e) => e.type === 'agent.evicted');
      expect(event?.data).toMatchObject({ agentId: 'idle', requeued: [], dead: [] });
    });

    it('refuses a stale fence and changes nothing', async () => {
      const b = await open();
      await b.registry.register({ id: 'gone', name: 'Gone', skills });
      const { task } = await b.queue.submit({ capability: 'echo' });
      await b.queue.lease({ agentId: 'gone', capabilities: ['echo'], max: 1 });
      await delay(60);
      const stale = { hubId: b.fence.hubId, epoch: b.fence.epoch + 1 };
      await expect(b.evictAgent('gone', 50, stale)).rejects.toBeInstanceOf(ConflictError);
      await expect(
        b.evictAgent('gone', 50, { hubId: 'not-the-leader', epoch: b.fence.epoch }),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(await b.registry.get('gone')).not.toBeNull();
      expect(await b.queue.get(task.id)).toMatchObject({ state: 'leased', agentId: 'gone' });
      expect((await b.events()).filter((e) => e.type === 'agent.evicted')).toEqual([]);
    });
  });
}
