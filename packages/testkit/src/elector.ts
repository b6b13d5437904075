/** `electorSuite`: one leader at a time, handover on stop, a new epoch per leadership. */
import { afterEach, describe, expect, it } from '@jest/globals';
import type { ElectorOptions, LeaderElector, LeadershipState } from '@mcpmas/core';
import { eventually } from './services.js';

/** What an elector factory returns: electors that compete for the same leadership. */
export interface ElectorHarness {
  create(hubId: string, options: ElectorOptions): LeaderElector;
  close(): Promise<void>;
}

const TIMING: ElectorOptions = { ttlMs: 600, renewIntervalMs: 100 };

/** Runs the leader-election conformance suite against `factory`. */
export function electorSuite(name: string, factory: () => Promise<ElectorHarness>): void {
  describe(`electorSuite: ${name}`, () => {
    let harness: ElectorHarness | undefined;
    let electors: LeaderElector[] = [];
    afterEach(async () => {
      for (const e of electors) await e.stop();
      electors = [];
      await harness?.close();
      harness = undefined;
    });
    const start = async (...ids: string[]) => {
      harness ??= await factory();
      const created = ids.map((id) => harness!.create(id, TIMING));
      electors.push(...created);
      for (const e of created) await e.start();
      return created;
    };

    it('elects a single elector and gives it a fence', async () => {
      const [hub] = await start('hub-a');
      await eventually(() => hub!.isLeader(), 2000);
      expect(hub!.fence()).toEqual({ hubId: 'hub-a', epoch: expect.any(Number) });
      expect(await hub!.leader()).toEqual(hub!.fence());
    });

    it('keeps exactly one leader among several', async () => {
      const hubs = await start('hub-a', 'hub-b', 'hub-c');
      await eventually(() => hubs.some((h) => h.isLeader()), 2000);
      for (let i = 0; i < 5; i++) {
        expect(hubs.filter((h) => h.isLeader())).toHaveLength(1);
        await new Promise((r) => setTimeout(r, 100));
      }
      const leader = hubs.find((h) => h.isLeader())!;
      expect(hubs.filter((h) => h !== leader).every((h) => h.fence() === null)).toBe(true);
    });

    it('hands over when the leader stops, with a higher epoch, and reports changes', async () => {
      const hubs = await start('hub-a', 'hub-b');
      const seen: Array<[string, LeadershipState]> = [];
      for (const h of hubs) h.onChange((s) => seen.push([h.hubId, s]));
      await eventually(() => hubs.some((h) => h.isLeader()), 2000);
      const first = hubs.find((h) => h.isLeader())!;
      const other = hubs.find((h) => h !== first)!;
      const firstEpoch = first.fence()!.epoch;
      await first.stop();
      expect(first.isLeader()).toBe(false);
      await eventually(() => other.isLeader(), TIMING.ttlMs + TIMING.renewIntervalMs * 3);
      expect(other.fence()!.epoch).toBeGreaterThan(firstEpoch);
      expect(seen).toContainEqual([first.hubId, { isLeader: false, epoch: null }]);
      expect(seen.some(([id, s]) => id === other.hubId && s.isLeader)).toBe(true);
    });
  });
}
