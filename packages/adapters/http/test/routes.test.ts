import { describe, expect, it } from '@jest/globals';
import { OPERATION_NAMES, ValidationError } from '@mcpmas/core';
import { decodeRequest, encodeRequest, ROUTES, routeOf } from '../src/index.js';

/** Decodes what the client encoded, the way express would hand it over. */
function roundTrip(operation: keyof typeof ROUTES, request: Record<string, unknown>) {
  const route = ROUTES[operation];
  const out = encodeRequest(route, request);
  const url = new URL(out.path, 'http://hub');
  const pattern = new RegExp(`^${route.path.replace(/:(\w+)/g, '(?<$1>[^/]+)')}$`);
  const match = pattern.exec(url.pathname);
  if (!match) throw new Error(`${out.path} does not match ${route.path}`);
  const params = Object.fromEntries(
    Object.entries(match.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]),
  );
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const body = out.body === undefined ? undefined : JSON.parse(out.body);
  return { out, decoded: decodeRequest(route, { params, query, body }) };
}

describe('route table', () => {
  it('has exactly one route for every operation, with distinct method + path', () => {
    expect(Object.keys(ROUTES).sort()).toEqual([...OPERATION_NAMES].sort());
    const keys = Object.values(ROUTES).map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const [op, route] of Object.entries(ROUTES)) expect(route.operation).toBe(op);
  });

  it('keeps the seed routes as the public contract', () => {
    expect(ROUTES['task.submit']).toMatchObject({ method: 'POST', path: '/task' });
    expect(ROUTES['task.submit_batch']).toMatchObject({ method: 'POST', path: '/batch_task' });
    expect(ROUTES['task.get']).toMatchObject({ method: 'GET', path: '/task_result/:task_id' });
    expect(ROUTES['agents.status']).toMatchObject({ method: 'GET', path: '/agent_status' });
    expect(ROUTES['task.cancel']).toMatchObject({ method: 'POST', path: '/task/:task_id/cancel' });
  });

  it('routeOf knows operations only', () => {
    expect(routeOf('task.get')).toBe(ROUTES['task.get']);
    expect(routeOf('task.explode')).toBeUndefined();
    expect(routeOf('toString')).toBeUndefined();
  });

  const samples: Array<[keyof typeof ROUTES, Record<string, unknown>]> = [
    ['task.submit', { capability: 'echo', payload: { a: [1, 'x'] }, priority: 'high' }],
    ['task.submit_batch', { tasks: [{ capability: 'echo' }], batchId: 'b-1' }],
    ['task.get', { taskId: 'task/with:odd@chars', waitMs: 1500 }],
    ['agents.status', { capability: 'echo' }],
    ['agents.status', {}],
    ['task.cancel', { taskId: 't1', reason: 'because' }],
    ['batch.get', { batchId: 'b 1' }],
    ['agent.register', { name: 'a', skills: [{ id: 'echo', name: 'Echo' }] }],
    ['agent.heartbeat', { agentId: 'a1', load: { running: 1, capacity: 2 } }],
    ['agent.unregister', { agentId: 'a1' }],
    ['task.next', { agentId: 'a1', waitMs: 100, max: 3, capabilities: ['x', 'y'] }],
    ['task.progress', { taskId: 't1', agentId: 'a1', leaseToken: 'tok', progress: { percent: 5 } }],
    ['task.result', { taskId: 't1', agentId: 'a1', leaseToken: 'tok', status: 'succeeded', result: null }],
  ];
  it.each(samples)('%s: what the client encodes the server decodes to the same request', (op, request) => {
    expect(roundTrip(op, request).decoded).toEqual(request);
  });

  it('puts path ids in the path, percent-encoded, and GET fields in the query', () => {
    expect(encodeRequest(ROUTES['task.get'], { taskId: 'a/b c', waitMs: 5 })).toEqual({
      method: 'GET',
      path: '/task_result/a%2Fb%20c?wait_ms=5',
      waitMs: 5,
    });
    expect(encodeRequest(ROUTES['task.cancel'], { taskId: 't', reason: 'r' })).toEqual({
      method: 'POST',
      path: '/task/t/cancel',
      body: '{"reason":"r"}',
    });
  });

  it('refuses on the client what the URL cannot carry, naming the field', () => {
    expect(() => encodeRequest(ROUTES['task.get'], {})).toThrow(/taskId: is required/);
    expect(() => encodeRequest(ROUTES['task.get'], { taskId: 42 })).toThrow(/taskId: must be a string/);
    expect(() => encodeRequest(ROUTES['task.get'], { taskId: 't', waitMs: 'soon' })).toThrow(
      /waitMs: must be a number/,
    );
    expect(() => encodeRequest(ROUTES['agents.status'], { capability: 7 })).toThrow(
      /capability: must be a string/,
    );
    expect(() => encodeRequest(ROUTES['task.submit'], 'not an object')).toThrow(ValidationError);
    expect(() => encodeRequest(ROUTES['task.submit'], [1])).toThrow(/must be an object, not an array/);
  });

  it('sends unknown GET fields along so the server names them', () => {
    const out = encodeRequest(ROUTES['task.get'], { taskId: 't', colour: 'red' });
    expect(out.path).toBe('/task_result/t?colour=red');
    expect(() =>
      decodeRequest(ROUTES['task.get'], {
        params: { task_id: 't' },
        query: { colour: 'red' },
        body: undefined,
      }),
    ).toThrow(/colour: unknown query parameter "colour"/);
  });

  describe('decodeRequest', () => {
    const next = ROUTES['task.next'];
    const decode = (query: Record<string, unknown>, body?: unknown) =>
      decodeRequest(next, { params: { agent_id: 'a1' }, query, body });

    it('parses query numbers strictly and names both spellings', () => {
      expect(decode({ wait_ms: '250' })).toEqual({ agentId: 'a1', waitMs: 250 });
      expect(decode({ waitMs: '1e3' })).toEqual({ agentId: 'a1', waitMs: 1000 });
      for (const bad of ['abc', '', '0x10', ' 5', '5ms', 'NaN', 'Infinity']) {
        expect(() => decode({ wait_ms: bad })).toThrow(/waitMs: query parameter wait_ms must be a number/);
      }
      expect(() => decode({ wait_ms: ['1', '2'] })).toThrow(/given 2 times/);
    });

    it('reads lists comma-separated or repeated', () => {
      expect(decode({ capabilities: 'a,b' }).capabilities).toEqual(['a', 'b']);
      expect(decode({ capabilities: ['a', 'b,c'] }).capabilities).toEqual(['a', 'b', 'c']);
    });

    it('merges body, query and path; a contradiction is an error naming the field', () => {
      expect(decode({ max: '2' }, { waitMs: 10 })).toEqual({ agentId: 'a1', max: 2, waitMs: 10 });
      expect(decode({}, { agentId: 'a1' })).toEqual({ agentId: 'a1' });
      expect(() => decode({}, { agentId: 'someone-else' })).toThrow(
        /agentId: the URL path \(agent_id\) gives "a1"/,
      );
      expect(() => decode({ wait_ms: '5' }, { waitMs: 6 })).toThrow(
        /waitMs: query parameter wait_ms gives 5/,
      );
      expect(() => decode({ wait_ms: '5', waitMs: '6' })).toThrow(/waitMs/);
    });

    it('copies the body: fields in order, a `__proto__` key as a field, the body left alone', () => {
      const body = { max: 3, waitMs: 10 };
      const request = decode({}, body);
      expect(Object.keys(request)).toEqual(['max', 'waitMs', 'agentId']);
      expect(body).toEqual({ max: 3, waitMs: 10 });
      // JSON.parse makes `__proto__` an own key; it must stay a field, never the prototype.
      const tricky = decode({}, JSON.parse('{"__proto__":{"polluted":true},"max":1}'));
      expect(Object.getPrototypeOf(tricky)).toBe(Object.prototype);
      expect(Object.hasOwn(tricky, '__proto__')).toBe(true);
      expect((tricky as { polluted?: unknown }).polluted).toBeUndefined();
      expect(tricky.agentId).toBe('a1');
    });

    it('wants an object body', () => {
      expect(() => decode({}, [1, 2])).toThrow(/the JSON body must be an object, not an array/);
      expect(() => decode({}, 'text')).toThrow(/not a string/);
      expect(decode({}, undefined)).toEqual({ agentId: 'a1' });
    });
  });
});
