/** `registrySuite` and `outboxSuite`: agent records, heartbeats, eviction and the event outbox. */
import { afterEach, describe, expect, it } from '@jest/globals';
import { type EventOutbox, type LeaderFence, NotFoundError, type Registry } from '@mcpmas/core';
import { delay } from './services.js';

/** What a registry factory returns. */
export interface RegistryHarness {
  registry: Registry;
  /** The outbox the registry appends lifecycle events to, when it has one. */
  outbox?: EventOutbox;
  fence?: () => LeaderFence | undefined;
  close(): Promise<void>;
}

const skills = [{ id: 'echo', name: 'Echo' }];

/** Runs the registry conformance suite against `factory`. */
export function registrySuite(name: string, factory: () => Promise<RegistryHarness>): void {
  describe(`registrySuite: ${name}`, () => {
    let harness: RegistryHarness | undefined;
    const open = async () => {
      harness = await factory();
      return harness;
    };
    afterEach(async () => {
      await harness?.close();
      harness = undefined;
    });
    const events = async (h: RegistryHarness) =>
      h.outbox ? h.outbox.read(`suite-${Math.random()}`, 10_000) : [];

    it('registers, lists and refreshes an agent, keeping its first registration time', async () => {
      const h = await open();
      const first = await h.registry.register({
        id: 'a1',
        name: 'Agent 1',
        skills,
        metadata: { gpu: true },
        protocol: 'http',
      });
      expect(first).toMatchObject({
        id: 'a1',
        name: 'Agent 1',
        skills,
        metadata: { gpu: true },
        protocol: 'http',
      });
      await delay(5);
      const again = await h.registry.register({
        id: 'a1',
        name: 'Agent 1b',
        skills: [{ id: 'sum', name: 'Sum' }],
      });
      expect(again.registeredAt).toBe(first.registeredAt);
      expect(again.lastHeartbeat).toBeGreaterThanOrEqual(first.lastHeartbeat);
      expect((await h.registry.get('a1'))?.skills.map((s) => s.id)).toEqual(['sum']);
      await h.registry.register({ id: 'a2', name: 'Agent 2', skills });
      expect((await h.registry.list()).map((a) => a.id).sort()).toEqual(['a1', 'a2']);
      expect(await h.registry.get('nobody')).toBeNull();
      if (h.outbox) {
        const registered = (await events(h)).filter((e) => e.type === 'agent.registered');
        expect(registered.map((e) => e.data.agentId)).toEqual(['a1', 'a1', 'a2']);
      }
    });

    it('records heartbeats with load and refuses unknown agents', async () => {
      const h = await open();
      const reg = await h.registry.register({ id: 'a1', name: 'A', skills });
      await delay(10);
      const beat = await h.registry.heartbeat('a1', { running: 2, capacity: 4 });
      expect(beat.lastHeartbeat).toBeGreaterThan(reg.lastHeartbeat);
      expect(beat.load).toEqual({ running: 2, capacity: 4 });
      await expect(h.registry.heartbeat('ghost')).rejects.toBeInstanceOf(NotFoundError);
    });

    it('finds stale agents by heartbeat age and forgets them once they beat again', async () => {
      const h = await open();
      await h.registry.register({ id: 'quiet', name: 'Q', skills });
      await delay(120);
      await h.registry.register({ id: 'chatty', name: 'C', skills });
      expect(await h.registry.stale(100)).toEqual(['quiet']);
      await h.registry.heartbeat('quiet');
      expect(await h.registry.stale(100)).toEqual([]);
    });

    it('evicts only agents that are still stale, with an event naming their tasks', async () => {
      const h = await open();
      await h.registry.register({ id: 'gone', name: 'G', skills });
      await h.registry.register({ id: 'back', name: 'B', skills });
      await delay(120);
      await h.registry.heartbeat('back');
      const fence = h.fence?.();
      expect(await h.registry.evict('back', 100, { requeued: [], dead: [] }, fence)).toBe(false);
      expect(await h.registry.evict('gone', 100, { requeued: ['t1'], dead: ['t2'] }, fence)).toBe(true);
      expect(await h.registry.evict('gone', 100, { requeued: [], dead: [] }, fence)).toBe(false);
      expect(await h.registry.get('gone')).toBeNull();
      expect(await h.registry.get('back')).not.toBeNull();
      await expect(h.registry.heartbeat('gone')).rejects.toBeInstanceOf(NotFoundError);
      if (h.outbox) {
        const evicted = (await events(h)).filter((e) => e.type === 'agent.evicted');
        expect(evicted).toHaveLength(1);
        expect(evicted[0]!.data).toMatchObject({ agentId: 'gone', requeued: ['t1'], dead: ['t2'] });
      }
    });

    it('unregisters, reporting whether the agent existed', async () => {
      const h = await open();
      await h.registry.register({ id: 'a1', name: 'A', skills });
      expect(await h.registry.unregister('a1')).toBe(true);
      expect(await h.registry.unregister('a1')).toBe(false);
      expect(await h.registry.list()).toEqual([]);
      if (h.outbox) expect((await events(h)).filter((e) => e.type === 'agent.unregistered')).toHaveLength(1);
    });

    it('tells the time of its backend', async () => {
      const h = await open();
      const now = await h.registry.now();
      expect(Math.abs(now - Date.now())).toBeLessThan(60_000);
    });
  });
}

/** Runs the outbox conformance suite against `factory`. */
export function outboxSuite(
  name: string,
  factory: () => Promise<{ outbox: EventOutbox; close(): Promise<void> }>,
): void {
  describe(`outboxSuite: ${name}`, () => {
    let harness: { outbox: EventOutbox; close(): Promise<void> } | undefined;
    afterEach(async () => {
      await harness?.close();
      harness = undefined;
    });

    it('delivers events in order per channel until each channel acknowledges them', async () => {
      harness = await factory();
      const { outbox } = harness;
      const a = await outbox.append('agent.registered', { agentId: 'x' });
      const b = await outbox.append('agent.evicted', { agentId: 'x', requeued: [] });
      expect(a.id < b.id).toBe(true);
      expect(b.at).toBeGreaterThanOrEqual(a.at);
      expect((await outbox.read('webhook', 10)).map((e) => e.id)).toEqual([a.id, b.id]);
      expect((await outbox.read('webhook', 1)).map((e) => e.id)).toEqual([a.id]);
      await outbox.ack('webhook', [a.id]);
      expect((await outbox.read('webhook', 10)).map((e) => e.type)).toEqual(['agent.evicted']);
      expect(await outbox.pending('webhook')).toBe(1);
      // Another channel is independent.
      expect(await outbox.pending('email')).toBe(2);
      await outbox.ack('webhook', [b.id]);
      expect(await outbox.read('webhook', 10)).toEqual([]);
      expect((await outbox.read('email', 10)).map((e) => e.data)).toEqual([
        { agentId: 'x' },
        { agentId: 'x', requeued: [] },
      ]);
    });

    it('re-delivers an unacknowledged event', async () => {
      harness = await factory();
      const e = await harness.outbox.append('task.dead', { taskId: 't' });
      expect((await harness.outbox.read('kafka', 5)).map((x) => x.id)).toEqual([e.id]);
      expect((await harness.outbox.read('kafka', 5)).map((x) => x.id)).toEqual([e.id]);
    });
  });
}
