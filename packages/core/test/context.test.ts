import { describe, expect, it } from '@jest/globals';
import { createDispatcher, createMemoryBackend, isAborted, LazyCallContext, onAbort } from '../src/index.js';

const skills = [{ id: 'echo', name: 'Echo' }];

/** Counts how often the transport was asked to watch for the caller going away. */
class Watched extends LazyCallContext {
  watched = 0;
  protected override watch(): void {
    this.watched += 1;
  }
}

describe('LazyCallContext', () => {
  it('makes no signal and watches nothing for a call that never waits', () => {
    const context = new Watched('test');
    expect(isAborted(context)).toBe(false);
    expect(context.watched).toBe(0);
    expect(Object.keys(context)).toEqual(['protocol', 'watched']);
  });

  it('makes the signal on first read, watches once, and aborts it', () => {
    const context = new Watched('test');
    const signal = context.signal;
    expect(context.signal).toBe(signal);
    expect(context.watched).toBe(1);
    context.abort();
    expect(signal.aborted).toBe(true);
    expect(isAborted(context)).toBe(true);
  });

  it('starts the signal out aborted when the call was aborted before anyone read it', () => {
    const context = new Watched('test');
    context.abort();
    expect(context.signal.aborted).toBe(true);
    expect(context.watched).toBe(0);
  });

  it('tells onAbort listeners without making a signal, and lets them go', () => {
    const context = new Watched('test');
    const calls: string[] = [];
    onAbort(context, () => calls.push('kept'));
    const remove = onAbort(context, () => calls.push('removed'));
    remove();
    expect(context.watched).toBe(1);
    context.abort();
    context.abort();
    expect(calls).toEqual(['kept']);
    onAbort(context, () => calls.push('late'));
    expect(calls).toEqual(['kept', 'late']);
  });

  it('uses the signal of a plain context', () => {
    const controller = new AbortController();
    const calls: string[] = [];
    onAbort({ protocol: 'test', signal: controller.signal }, () => calls.push('x'));
    expect(isAborted({ protocol: 'test', signal: controller.signal })).toBe(false);
    controller.abort();
    expect(calls).toEqual(['x']);
    expect(isAborted({ protocol: 'test', signal: controller.signal })).toBe(true);
    expect(isAborted({ protocol: 'test' })).toBe(false);
  });

  it('ends a dispatcher long-poll when aborted, without ever making a signal', async () => {
    const backend = createMemoryBackend();
    const dispatcher = createDispatcher({ registry: backend.registry, queue: backend.queue });
    try {
      await dispatcher.call('agent.register', { agentId: 'a', name: 'a', skills }, { protocol: 'test' });
      const context = new Watched('test');
      const signalReads = countSignalReads(context);
      const t0 = Date.now();
      const waiting = dispatcher.call('task.next', { agentId: 'a', waitMs: 30_000 }, context);
      setTimeout(() => context.abort(), 50);
      expect((await waiting).tasks).toEqual([]);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(context.watched).toBe(1);
      expect(signalReads()).toBe(0);
    } finally {
      dispatcher.close();
    }
  });
});

/** Counts reads of `context.signal` from now on. */
function countSignalReads(context: LazyCallContext): () => number {
  let reads = 0;
  const read = Object.getOwnPropertyDescriptor(LazyCallContext.prototype, 'signal')!.get!;
  Object.defineProperty(context, 'signal', {
    get() {
      reads += 1;
      return read.call(context);
    },
  });
  return () => reads;
}
