import { runInNewContext } from 'node:vm';
import { describe, expect, it } from '@jest/globals';
import {
  cloneJson,
  createDispatcher,
  createMemoryBackend,
  jsonProblem,
  MAX_JSON_DEPTH,
  operations,
  PROTO_KEY,
} from '../src/index.js';

/** `levels` containers, one inside the next, around `inner`. */
function nested(levels: number, kind: 'object' | 'array' = 'object', inner: unknown = 1): unknown {
  let value = inner;
  for (let i = 0; i < levels; i++) value = kind === 'object' ? { k: value } : [value];
  return value;
}

describe('jsonProblem', () => {
  it('accepts JSON nested up to the limit, and undefined where JSON drops it', () => {
    for (const value of [
      null,
      true,
      0,
      -1.5e300,
      '',
      'text',
      [],
      {},
      { a: [1, 'x', null, { b: false }], c: undefined },
      [undefined],
      Object.assign(Object.create(null), { a: 1 }),
      nested(MAX_JSON_DEPTH),
      nested(MAX_JSON_DEPTH, 'array'),
      undefined,
    ]) {
      expect(jsonProblem(value)).toBeUndefined();
    }
  });

  it('refuses one level past the limit, naming the path down to it', () => {
    expect(jsonProblem(nested(MAX_JSON_DEPTH + 1))).toEqual({
      path: Array(MAX_JSON_DEPTH).fill('k'),
      message: `nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`,
    });
    expect(jsonProblem({ list: [1, nested(3, 'array')] }, 3)).toEqual({
      path: ['list', 1, 0],
      message: 'nested deeper than 3 levels of arrays and objects',
    });
  });

  it('stops at the limit however deep the value goes, without exhausting the stack', () => {
    const hostile = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`);
    expect(jsonProblem(hostile)?.path).toHaveLength(MAX_JSON_DEPTH);
  });

  it.each([
    [{ n: Number.NaN }, ['n'], 'NaN is not a JSON number'],
    [[1, Number.POSITIVE_INFINITY], [1], 'Infinity is not a JSON number'],
    [{ big: 10n }, ['big'], 'a bigint is not JSON'],
    [{ f: () => 1 }, ['f'], 'a function is not JSON'],
    [{ s: Symbol('x') }, ['s'], 'a symbol is not JSON'],
    [{ when: new Date(0) }, ['when'], 'a Date is not JSON'],
    [{ m: new Map() }, ['m'], 'a Map is not JSON'],
    [{ u: new Uint8Array(2) }, ['u'], 'a Uint8Array is not JSON'],
    [{ c: new (class Point {})() }, ['c'], 'a Point is not JSON'],
  ])('refuses %p at its path', (value, path, message) => {
    expect(jsonProblem(value)).toEqual({ path, message });
  });

  it('refuses a key named __proto__, which plain copies turn into a prototype', () => {
    expect(jsonProblem(JSON.parse('{"a":[{"__proto__":{"admin":true}}]}'))).toEqual({
      path: ['a', 0, '__proto__'],
      message: PROTO_KEY,
    });
    // The same name inherited, as every object has it, is not a key of the value.
    expect(jsonProblem({ a: 1 })).toBeUndefined();
  });

  it('refuses a value that contains itself', () => {
    const loop: Record<string, unknown> = { a: { b: [] } };
    ((loop.a as { b: unknown[] }).b as unknown[]).push(loop);
    expect(jsonProblem(loop)).toEqual({ path: ['a', 'b', 0], message: 'the value contains itself' });
  });

  it('accepts plain objects and arrays of another realm (a vm context)', () => {
    const foreign = runInNewContext('({ a: [1, { b: "x" }], c: Object.create(null) })') as unknown;
    expect(jsonProblem(foreign)).toBeUndefined();
    expect(jsonProblem(runInNewContext('({ d: new Date(0) })'))).toMatchObject({ path: ['d'] });
  });
});

describe('cloneJson', () => {
  it('keeps a key named __proto__ as a key, leaving the prototype alone', () => {
    const copy = cloneJson(JSON.parse('{"__proto__":{"admin":true},"b":2}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'b']);
    expect((copy as { admin?: unknown }).admin).toBeUndefined();
    expect(JSON.stringify(copy)).toBe('{"__proto__":{"admin":true},"b":2}');
  });
});

describe('free-form JSON in requests', () => {
  it('refuses a metadata key named __proto__ through the dispatcher instead of dropping it', async () => {
    const backend = createMemoryBackend();
    const dispatcher = createDispatcher({ registry: backend.registry, queue: backend.queue });
    const ctx = { protocol: 'test' };
    for (const [operation, request, path] of [
      ['task.submit', '{"capability":"c","metadata":{"__proto__":{"admin":true}}}', 'metadata.__proto__'],
      [
        'task.submit_batch',
        '{"tasks":[{"capability":"c"},{"capability":"c","metadata":{"__proto__":1}}]}',
        'tasks.1.metadata.__proto__',
      ],
      [
        'agent.register',
        '{"name":"a","skills":[{"id":"c","name":"C"}],"metadata":{"__proto__":{}}}',
        'metadata.__proto__',
      ],
      ['task.submit', '{"capability":"c","payload":{"x":{"__proto__":{}}}}', 'payload.x.__proto__'],
    ] as const) {
      await expect(dispatcher.dispatch(operation, JSON.parse(request), ctx)).rejects.toMatchObject({
        code: 'VALIDATION',
        details: { issues: [{ path, message: PROTO_KEY }] },
      });
    }
    dispatcher.close();
  });

  it('names the field and the path inside it, on every field of free-form JSON', async () => {
    const backend = createMemoryBackend();
    const dispatcher = createDispatcher({ registry: backend.registry, queue: backend.queue });
    const ctx = { protocol: 'test' };
    const refused = (operation: Parameters<typeof dispatcher.dispatch>[0], request: unknown) =>
      dispatcher.dispatch(operation, request, ctx).then(
        () => 'accepted',
        (error: { code: string; details: { issues: Array<{ path: string; message: string }> } }) =>
          `${error.code} ${error.details.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      );
    expect(
      await refused('task.submit_batch', {
        tasks: [{ capability: 'c' }, { capability: 'c', metadata: { when: { at: Number.NaN } } }],
      }),
    ).toBe('VALIDATION tasks.1.metadata.when.at: NaN is not a JSON number');
    expect(await refused('task.submit', { capability: 'c', payload: [new Map()] })).toBe(
      'VALIDATION payload.0: a Map is not JSON',
    );
    const { agentId } = await dispatcher.call(
      'agent.register',
      { name: 'a', skills: [{ id: 'c', name: 'C' }] },
      ctx,
    );
    const { task } = await dispatcher.call('task.submit', { capability: 'c' }, ctx);
    const [leased] = (await dispatcher.call('task.next', { agentId }, ctx)).tasks;
    const ref = { taskId: task.id, agentId, leaseToken: leased!.leaseToken };
    expect(await refused('task.progress', { ...ref, progress: { data: { x: 1n } } })).toBe(
      'VALIDATION progress.data.x: a bigint is not JSON',
    );
    expect(
      await refused('task.result', {
        ...ref,
        status: 'failed',
        error: { message: 'm', details: nested(MAX_JSON_DEPTH + 1) },
      }),
    ).toMatch(/^VALIDATION error\.details(\.k)+: nested deeper than 30 levels/);
    expect(
      await refused('task.result', { ...ref, status: 'succeeded', result: { ok: Number.POSITIVE_INFINITY } }),
    ).toBe('VALIDATION result.ok: Infinity is not a JSON number');
    // Nothing was half-applied: the lease holds, and a good report lands.
    expect(await refused('task.result', { ...ref, status: 'succeeded', result: { ok: true } })).toBe(
      'accepted',
    );
    dispatcher.close();
  });
});
