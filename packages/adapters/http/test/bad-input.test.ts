/**
 * Bad input on every route gets the right status and a JSON body naming the problem, and the
 * server keeps serving afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApiKeyAuthenticator } from '@mcpmas/core';
import { errorOf, type RawReply, skills, startHub, type TestHub } from './helpers.js';

const KEYS = {
  admin: 'admin-key-0001',
  reader: 'reader-key-0002',
  agent: 'agent-key-00003',
  submitter: 'submit-key-0004',
};
const ADMIN = { authorization: `Bearer ${KEYS.admin}` };

interface Fixture {
  agentId: string;
  /** A task leased to `agentId`. */
  leased: { taskId: string; leaseToken: string };
  /** A task that was leased, then cancelled. */
  cancelled: { taskId: string; leaseToken: string };
  /** A task that succeeded. */
  done: { taskId: string; leaseToken: string };
  batchId: string;
}

type Dyn<T> = T | ((f: Fixture) => T);
interface Case {
  name: string;
  method: string;
  path: Dyn<string>;
  body?: Dyn<object | string>;
  headers?: Record<string, string>;
  status: number;
  code: string;
  match: RegExp;
}

const big = (bytes: number) => 'x'.repeat(bytes);
/** JSON text of `levels` arrays, one inside the next: deeper than any recursive serialiser copes with. */
const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

const cases: Case[] = [
  // POST /task
  {
    name: 'task: invalid JSON',
    method: 'POST',
    path: '/task',
    body: '{"capability": ',
    status: 400,
    code: 'VALIDATION',
    match: /invalid JSON body/,
  },
  {
    name: 'task: payload nested 20,000 levels deep',
    method: 'POST',
    path: '/task',
    body: `{"capability":"bad","payload":${deep(20_000)}}`,
    status: 400,
    code: 'VALIDATION',
    match: /^invalid request: payload(\.0)+: nested deeper than 30 levels/,
  },
  {
    name: 'task: a metadata key named __proto__ (refused, not silently dropped)',
    method: 'POST',
    path: '/task',
    body: '{"capability":"bad","metadata":{"__proto__":{"admin":true}}}',
    status: 400,
    code: 'VALIDATION',
    match: /^invalid request: metadata\.__proto__: a key named "__proto__" is not accepted/,
  },
  {
    name: 'task: wrong type',
    method: 'POST',
    path: '/task',
    body: { capability: 'bad', priority: 'extreme' },
    status: 400,
    code: 'VALIDATION',
    match: /priority/,
  },
  {
    name: 'task: unknown field',
    method: 'POST',
    path: '/task',
    body: { capability: 'bad', colour: 'red' },
    status: 400,
    code: 'VALIDATION',
    match: /unknown field\(s\): colour/,
  },
  {
    name: 'task: missing field',
    method: 'POST',
    path: '/task',
    body: {},
    status: 400,
    code: 'VALIDATION',
    match: /capability/,
  },
  {
    name: 'task: bad id',
    method: 'POST',
    path: '/task',
    body: { capability: 'bad cap!' },
    status: 400,
    code: 'VALIDATION',
    match: /capability: must start with/,
  },
  {
    name: 'task: out of range',
    method: 'POST',
    path: '/task',
    body: { capability: 'bad', timeoutMs: 5 },
    status: 400,
    code: 'VALIDATION',
    match: /timeoutMs/,
  },
  {
    name: 'task: bad traceparent',
    method: 'POST',
    path: '/task',
    body: { capability: 'bad', traceparent: 'nope' },
    status: 400,
    code: 'VALIDATION',
    match: /traceparent/,
  },
  {
    name: 'task: array body',
    method: 'POST',
    path: '/task',
    body: '[1,2]',
    headers: { 'content-type': 'application/json' },
    status: 400,
    code: 'VALIDATION',
    match: /JSON body must be an object, not an array/,
  },
  {
    name: 'task: number body',
    method: 'POST',
    path: '/task',
    body: '5',
    status: 400,
    code: 'VALIDATION',
    match: /JSON body must be an object, not a number/,
  },
  {
    name: 'task: null body',
    method: 'POST',
    path: '/task',
    body: 'null',
    headers: { 'content-type': 'application/json' },
    status: 400,
    code: 'VALIDATION',
    match: /JSON body must be an object, not null/,
  },
  {
    name: 'task: wrong content type',
    method: 'POST',
    path: '/task',
    body: 'capability=bad',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'VALIDATION',
    match: /Content-Type must be application\/json, got application\/x-www-form-urlencoded/,
  },
  {
    name: 'task: text content type',
    method: 'POST',
    path: '/task',
    body: '{"capability":"bad"}',
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'VALIDATION',
    match: /Content-Type must be application\/json, got text\/plain/,
  },
  {
    name: 'task: unsupported charset',
    method: 'POST',
    path: '/task',
    body: '{}',
    headers: { 'content-type': 'application/json; charset=latin1' },
    status: 415,
    code: 'VALIDATION',
    match: /charset/,
  },
  {
    name: 'task: body over the limit',
    method: 'POST',
    path: '/task',
    body: { capability: 'bad', payload: big(70_000) },
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    match: /larger than the limit of 65536 bytes/,
  },
  {
    name: 'task: payload over the limit',
    method: 'POST',
    path: '/task',
    body: { capability: 'bad', payload: big(20_000) },
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    match: /payload is \d+ bytes; the limit is 16384/,
  },
  // POST /batch_task
  {
    name: 'batch: invalid JSON',
    method: 'POST',
    path: '/batch_task',
    body: '{"tasks": [}',
    status: 400,
    code: 'VALIDATION',
    match: /invalid JSON body/,
  },
  {
    name: 'batch: empty',
    method: 'POST',
    path: '/batch_task',
    body: { tasks: [] },
    status: 400,
    code: 'VALIDATION',
    match: /tasks: a batch needs at least one task/,
  },
  {
    name: 'batch: wrong type',
    method: 'POST',
    path: '/batch_task',
    body: { tasks: 'many' },
    status: 400,
    code: 'VALIDATION',
    match: /tasks/,
  },
  {
    name: 'batch: one bad task',
    method: 'POST',
    path: '/batch_task',
    body: { tasks: [{ capability: 'bad' }, { capability: 3 }] },
    status: 400,
    code: 'VALIDATION',
    match: /tasks\.1\.capability/,
  },
  {
    name: 'batch: unknown field',
    method: 'POST',
    path: '/batch_task',
    body: { tasks: [{ capability: 'bad' }], extra: 1 },
    status: 400,
    code: 'VALIDATION',
    match: /unknown field\(s\): extra/,
  },
  {
    name: 'batch: bad batch id',
    method: 'POST',
    path: '/batch_task',
    body: { tasks: [{ capability: 'bad' }], batchId: '-x' },
    status: 400,
    code: 'VALIDATION',
    match: /batchId/,
  },
  // GET /task_result/:task_id
  {
    name: 'task_result: unknown task',
    method: 'GET',
    path: '/task_result/task_missing',
    status: 404,
    code: 'NOT_FOUND',
    match: /unknown task task_missing/,
  },
  {
    name: 'task_result: bad id',
    method: 'GET',
    path: '/task_result/bad%20id!',
    status: 400,
    code: 'VALIDATION',
    match: /taskId: must start with/,
  },
  {
    name: 'task_result: non-numeric wait_ms',
    method: 'GET',
    path: '/task_result/t1?wait_ms=abc',
    status: 400,
    code: 'VALIDATION',
    match: /waitMs: query parameter wait_ms must be a number, got "abc"/,
  },
  {
    name: 'task_result: negative wait_ms',
    method: 'GET',
    path: (f) => `/task_result/${f.leased.taskId}?wait_ms=-5`,
    status: 400,
    code: 'VALIDATION',
    match: /waitMs/,
  },
  {
    name: 'task_result: fractional wait_ms',
    method: 'GET',
    path: (f) => `/task_result/${f.leased.taskId}?wait_ms=1.5`,
    status: 400,
    code: 'VALIDATION',
    match: /waitMs/,
  },
  {
    name: 'task_result: wait_ms too long',
    method: 'GET',
    path: (f) => `/task_result/${f.leased.taskId}?wait_ms=999999999`,
    status: 400,
    code: 'VALIDATION',
    match: /waitMs/,
  },
  {
    name: 'task_result: unknown query',
    method: 'GET',
    path: '/task_result/t1?foo=1',
    status: 400,
    code: 'VALIDATION',
    match: /foo: unknown query parameter/,
  },
  {
    name: 'task_result: nested query',
    method: 'GET',
    path: '/task_result/t1?wait_ms[a]=1',
    status: 400,
    code: 'VALIDATION',
    match: /unknown query parameter "wait_ms\[a\]"/,
  },
  {
    name: 'task_result: broken percent-encoding',
    method: 'GET',
    path: '/task_result/%E0%A4%A',
    status: 400,
    code: 'VALIDATION',
    match: /decode/,
  },
  // GET /agent_status
  {
    name: 'agent_status: bad capability',
    method: 'GET',
    path: '/agent_status?capability=bad%20cap',
    status: 400,
    code: 'VALIDATION',
    match: /capability: must start with/,
  },
  {
    name: 'agent_status: repeated capability',
    method: 'GET',
    path: '/agent_status?capability=a&capability=b',
    status: 400,
    code: 'VALIDATION',
    match: /capability: query parameter capability is given 2 times/,
  },
  {
    name: 'agent_status: unknown query',
    method: 'GET',
    path: '/agent_status?verbose=1',
    status: 400,
    code: 'VALIDATION',
    match: /verbose: unknown query parameter/,
  },
  // POST /task/:task_id/cancel
  {
    name: 'cancel: unknown task',
    method: 'POST',
    path: '/task/task_missing/cancel',
    status: 404,
    code: 'NOT_FOUND',
    match: /unknown task task_missing/,
  },
  {
    name: 'cancel: already terminal',
    method: 'POST',
    path: (f) => `/task/${f.done.taskId}/cancel`,
    status: 409,
    code: 'CONFLICT',
    match: /is already succeeded/,
  },
  {
    name: 'cancel: body contradicts path',
    method: 'POST',
    path: (f) => `/task/${f.leased.taskId}/cancel`,
    body: { taskId: 'another-task' },
    status: 400,
    code: 'VALIDATION',
    match: /taskId: the URL path \(task_id\) gives/,
  },
  {
    name: 'cancel: wrong type',
    method: 'POST',
    path: (f) => `/task/${f.leased.taskId}/cancel`,
    body: { reason: 42 },
    status: 400,
    code: 'VALIDATION',
    match: /reason/,
  },
  {
    name: 'cancel: unknown field',
    method: 'POST',
    path: (f) => `/task/${f.leased.taskId}/cancel`,
    body: { force: true },
    status: 400,
    code: 'VALIDATION',
    match: /unknown field\(s\): force/,
  },
  {
    name: 'cancel: invalid JSON',
    method: 'POST',
    path: '/task/t1/cancel',
    body: '{',
    status: 400,
    code: 'VALIDATION',
    match: /invalid JSON body/,
  },
  // GET /batch/:batch_id
  {
    name: 'batch: unknown batch',
    method: 'GET',
    path: '/batch/batch_missing',
    status: 404,
    code: 'NOT_FOUND',
    match: /unknown batch batch_missing/,
  },
  {
    name: 'batch: bad id',
    method: 'GET',
    path: '/batch/_bad',
    status: 400,
    code: 'VALIDATION',
    match: /batchId: must start with/,
  },
  {
    name: 'batch: unknown query',
    method: 'GET',
    path: (f) => `/batch/${f.batchId}?page=2`,
    status: 400,
    code: 'VALIDATION',
    match: /page: unknown query parameter/,
  },
  // POST /agents/register
  {
    name: 'register: missing skills',
    method: 'POST',
    path: '/agents/register',
    body: { name: 'x' },
    status: 400,
    code: 'VALIDATION',
    match: /skills/,
  },
  {
    name: 'register: no skills',
    method: 'POST',
    path: '/agents/register',
    body: { name: 'x', skills: [] },
    status: 400,
    code: 'VALIDATION',
    match: /skills: an agent must declare at least one skill/,
  },
  {
    name: 'register: bad skill id',
    method: 'POST',
    path: '/agents/register',
    body: { name: 'x', skills: [{ id: 'a b', name: 'x' }] },
    status: 400,
    code: 'VALIDATION',
    match: /skills\.0\.id/,
  },
  {
    name: 'register: wrong type',
    method: 'POST',
    path: '/agents/register',
    body: { name: 5, skills: skills('a') },
    status: 400,
    code: 'VALIDATION',
    match: /name/,
  },
  {
    name: 'register: unknown field',
    method: 'POST',
    path: '/agents/register',
    body: { name: 'x', skills: skills('a'), role: 'boss' },
    status: 400,
    code: 'VALIDATION',
    match: /unknown field\(s\): role/,
  },
  {
    name: 'register: invalid JSON',
    method: 'POST',
    path: '/agents/register',
    body: 'name=x',
    headers: { 'content-type': 'application/json' },
    status: 400,
    code: 'VALIDATION',
    match: /invalid JSON body/,
  },
  {
    name: 'register: wrong content type',
    method: 'POST',
    path: '/agents/register',
    body: '<agent/>',
    headers: { 'content-type': 'application/xml' },
    status: 415,
    code: 'VALIDATION',
    match: /Content-Type must be application\/json/,
  },
  // POST /agents/:agent_id/heartbeat
  {
    name: 'heartbeat: unknown agent',
    method: 'POST',
    path: '/agents/agent-missing/heartbeat',
    status: 404,
    code: 'NOT_FOUND',
    match: /unknown agent agent-missing/,
  },
  {
    name: 'heartbeat: bad agent id',
    method: 'POST',
    path: '/agents/%20x/heartbeat',
    status: 400,
    code: 'VALIDATION',
    match: /agentId: must start with/,
  },
  {
    name: 'heartbeat: out of range',
    method: 'POST',
    path: (f) => `/agents/${f.agentId}/heartbeat`,
    body: { load: { running: 0, capacity: 0 } },
    status: 400,
    code: 'VALIDATION',
    match: /load\.capacity/,
  },
  {
    name: 'heartbeat: body contradicts path',
    method: 'POST',
    path: (f) => `/agents/${f.agentId}/heartbeat`,
    body: { agentId: 'someone-else' },
    status: 400,
    code: 'VALIDATION',
    match: /agentId: the URL path \(agent_id\) gives/,
  },
  {
    name: 'heartbeat: unknown field',
    method: 'POST',
    path: (f) => `/agents/${f.agentId}/heartbeat`,
    body: { mood: 'ok' },
    status: 400,
    code: 'VALIDATION',
    match: /unknown field\(s\): mood/,
  },
  // POST /agents/:agent_id/unregister
  {
    name: 'unregister: unknown agent',
    method: 'POST',
    path: '/agents/agent-missing/unregister',
    status: 404,
    code: 'NOT_FOUND',
    match: /unknown agent agent-missing/,
  },
  {
    name: 'unregister: unknown field',
    method: 'POST',
    path: (f) => `/agents/${f.agentId}/unregister`,
    body: { now: true },
    status: 400,
    code: 'VALIDATION',
    match: /unknown field\(s\): now/,
  },
  {
    name: 'unregister: invalid JSON',
    method: 'POST',
    path: (f) => `/agents/${f.agentId}/unregister`,
    body: '{"now": tru}',
    status: 400,
    code: 'VALIDATION',
    match: /invalid JSON body/,
  },
  // POST /agents/:agent_id/next_task
  {
    name: 'next_task: unknown agent',
    method: 'POST',
    path: '/agents/agent-missing/next_task',
    status: 404,
    code: 'NOT_FOUND',
    match: /unknown agent agent-missing; register first/,
  },
  {
    name: 'next_task: non-numeric wait_ms',
    method: 'POST',
    path: (f) => `/agents/${f.agentId}/next_task?wait_ms=soon`,
    status: 400,
    code: 'VALIDATION',
    match: /waitMs: query parameter wait_ms must be a number, got "soon"/,
  },
  {
    name: 'next_task: wrong type in body',
    method: 'POST',
    path: (f) => `/agents/${f.agentId}/next_task`,
    body: { max: 'all' },
    status: 400,
    code: 'VALIDATION',
    match: /max/,
  },
  {
    name: 'next_task: out of range',
    method: 'POST',
    path: (f) => `/agents/${f.agentId}/next_task?max=0`,
    status: 400,
    code: 'VALIDATION',
    match: /max/,
  },
  {
    name: 'next_task: undeclared capability',
    method: 'POST',
    path: (f) => `/agents/${f.agentId}/next_task`,
    body: { capabilities: ['zzz'] },
    status: 400,
    code: 'VALIDATION',
    match: /capabilities: agent .* did not declare zzz/,
  },
  {
    name: 'next_task: query contradicts body',
    method: 'POST',
    path: (f) => `/agents/${f.agentId}/next_task?max=2`,
    body: { max: 3 },
    status: 400,
    code: 'VALIDATION',
    match: /max: query parameter max gives 2/,
  },
  {
    name: 'next_task: unknown field',
    method: 'POST',
    path: (f) => `/agents/${f.agentId}/next_task`,
    body: { greedy: true },
    status: 400,
    code: 'VALIDATION',
    match: /unknown field\(s\): greedy/,
  },
  // POST /task/:task_id/progress
  {
    name: 'progress: unknown task',
    method: 'POST',
    path: '/task/task_missing/progress',
    body: (f) => ({ agentId: f.agentId, leaseToken: 'tok' }),
    status: 404,
    code: 'NOT_FOUND',
    match: /unknown task task_missing/,
  },
  {
    name: 'progress: stale lease',
    method: 'POST',
    path: (f) => `/task/${f.leased.taskId}/progress`,
    body: (f) => ({ agentId: f.agentId, leaseToken: 'not-the-token' }),
    status: 409,
    code: 'CONFLICT',
    match: /lease token for task .* is stale/,
  },
  {
    name: 'progress: missing lease token',
    method: 'POST',
    path: (f) => `/task/${f.leased.taskId}/progress`,
    body: (f) => ({ agentId: f.agentId }),
    status: 400,
    code: 'VALIDATION',
    match: /leaseToken/,
  },
  {
    name: 'progress: out of range',
    method: 'POST',
    path: (f) => `/task/${f.leased.taskId}/progress`,
    body: (f) => ({ agentId: f.agentId, leaseToken: f.leased.leaseToken, progress: { percent: 200 } }),
    status: 400,
    code: 'VALIDATION',
    match: /progress\.percent/,
  },
  {
    name: 'progress: on a cancelled task',
    method: 'POST',
    path: (f) => `/task/${f.cancelled.taskId}/progress`,
    body: (f) => ({ agentId: f.agentId, leaseToken: f.cancelled.leaseToken }),
    status: 409,
    code: 'CONFLICT',
    match: /already cancelled/,
  },
  // POST /task/:task_id/result
  {
    name: 'result: unknown task',
    method: 'POST',
    path: '/task/task_missing/result',
    body: (f) => ({ agentId: f.agentId, leaseToken: 'tok', status: 'succeeded' }),
    status: 404,
    code: 'NOT_FOUND',
    match: /unknown task task_missing/,
  },
  {
    name: 'result: late (task cancelled)',
    method: 'POST',
    path: (f) => `/task/${f.cancelled.taskId}/result`,
    body: (f) => ({ agentId: f.agentId, leaseToken: f.cancelled.leaseToken, status: 'succeeded' }),
    status: 409,
    code: 'CONFLICT',
    match: /already cancelled/,
  },
  {
    name: 'result: duplicate',
    method: 'POST',
    path: (f) => `/task/${f.done.taskId}/result`,
    body: (f) => ({ agentId: f.agentId, leaseToken: f.done.leaseToken, status: 'succeeded' }),
    status: 409,
    code: 'CONFLICT',
    match: /already succeeded/,
  },
  {
    name: 'result: error details nested too deeply',
    method: 'POST',
    path: (f) => `/task/${f.leased.taskId}/result`,
    body: (f) =>
      `{"agentId":"${f.agentId}","leaseToken":"${f.leased.leaseToken}","status":"failed","error":{"message":"m","details":${deep(5000)}}}`,
    status: 400,
    code: 'VALIDATION',
    match: /error\.details(\.0)+: nested deeper than 30 levels/,
  },
  {
    name: 'progress: data nested too deeply',
    method: 'POST',
    path: (f) => `/task/${f.leased.taskId}/progress`,
    body: (f) =>
      `{"agentId":"${f.agentId}","leaseToken":"${f.leased.leaseToken}","progress":{"data":${deep(31)}}}`,
    status: 400,
    code: 'VALIDATION',
    match: /progress\.data(\.0)+: nested deeper than 30 levels/,
  },
  {
    name: 'result: bad status',
    method: 'POST',
    path: (f) => `/task/${f.leased.taskId}/result`,
    body: (f) => ({ agentId: f.agentId, leaseToken: f.leased.leaseToken, status: 'great' }),
    status: 400,
    code: 'VALIDATION',
    match: /status/,
  },
  {
    name: 'result: failure without error',
    method: 'POST',
    path: (f) => `/task/${f.leased.taskId}/result`,
    body: (f) => ({ agentId: f.agentId, leaseToken: f.leased.leaseToken, status: 'failed' }),
    status: 400,
    code: 'VALIDATION',
    match: /error/,
  },
  {
    name: 'result: result over the limit',
    method: 'POST',
    path: (f) => `/task/${f.leased.taskId}/result`,
    body: (f) => ({
      agentId: f.agentId,
      leaseToken: f.leased.leaseToken,
      status: 'succeeded',
      result: big(20_000),
    }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    match: /result is \d+ bytes/,
  },
  // Routing
  {
    name: 'unknown route',
    method: 'GET',
    path: '/nope',
    status: 404,
    code: 'NOT_FOUND',
    match: /no route GET \/nope/,
  },
  {
    name: 'unknown route (near miss)',
    method: 'POST',
    path: '/tasks',
    body: {},
    status: 404,
    code: 'NOT_FOUND',
    match: /no route POST \/tasks/,
  },
  {
    name: 'wrong method on /task',
    method: 'GET',
    path: '/task',
    status: 405,
    code: 'UNSUPPORTED',
    match: /method GET is not allowed on \/task; use POST/,
  },
  {
    name: 'wrong method on cancel',
    method: 'DELETE',
    path: '/task/t1/cancel',
    status: 405,
    code: 'UNSUPPORTED',
    match: /use POST/,
  },
  {
    name: 'wrong method on task_result',
    method: 'POST',
    path: '/task_result/t1',
    body: {},
    status: 405,
    code: 'UNSUPPORTED',
    match: /use GET, HEAD/,
  },
  {
    name: 'wrong method on healthz',
    method: 'PUT',
    path: '/healthz',
    status: 405,
    code: 'UNSUPPORTED',
    match: /use GET, HEAD/,
  },
];

/** One valid-looking request per operation, for the auth checks, and a key lacking its scope. */
const authCases: Array<{
  operation: string;
  method: string;
  path: string;
  body?: unknown;
  lacking: keyof typeof KEYS;
  scope: string;
}> = [
  {
    operation: 'task.submit',
    method: 'POST',
    path: '/task',
    body: { capability: 'bad' },
    lacking: 'reader',
    scope: 'task:submit',
  },
  {
    operation: 'task.submit_batch',
    method: 'POST',
    path: '/batch_task',
    body: { tasks: [{ capability: 'bad' }] },
    lacking: 'agent',
    scope: 'task:submit',
  },
  { operation: 'task.get', method: 'GET', path: '/task_result/t1', lacking: 'agent', scope: 'task:read' },
  { operation: 'agents.status', method: 'GET', path: '/agent_status', lacking: 'agent', scope: 'task:read' },
  {
    operation: 'task.cancel',
    method: 'POST',
    path: '/task/t1/cancel',
    lacking: 'submitter',
    scope: 'task:cancel',
  },
  { operation: 'batch.get', method: 'GET', path: '/batch/b1', lacking: 'agent', scope: 'task:read' },
  {
    operation: 'agent.register',
    method: 'POST',
    path: '/agents/register',
    body: { name: 'x', skills: skills('a') },
    lacking: 'submitter',
    scope: 'agent:connect',
  },
  {
    operation: 'agent.heartbeat',
    method: 'POST',
    path: '/agents/a1/heartbeat',
    lacking: 'reader',
    scope: 'agent:connect',
  },
  {
    operation: 'agent.unregister',
    method: 'POST',
    path: '/agents/a1/unregister',
    lacking: 'reader',
    scope: 'agent:connect',
  },
  {
    operation: 'task.next',
    method: 'POST',
    path: '/agents/a1/next_task',
    lacking: 'submitter',
    scope: 'agent:connect',
  },
  {
    operation: 'task.progress',
    method: 'POST',
    path: '/task/t1/progress',
    body: { agentId: 'a1', leaseToken: 'x' },
    lacking: 'reader',
    scope: 'agent:connect',
  },
  {
    operation: 'task.result',
    method: 'POST',
    path: '/task/t1/result',
    body: { agentId: 'a1', leaseToken: 'x', status: 'succeeded' },
    lacking: 'reader',
    scope: 'agent:connect',
  },
];

function expectJsonError(reply: RawReply, status: number, code: string, match: RegExp) {
  expect({ status: reply.status, type: reply.headers['content-type'] }).toEqual({
    status,
    type: 'application/json; charset=utf-8',
  });
  const error = errorOf(reply);
  expect(error.code).toBe(code);
  expect(error.message).toMatch(match);
  expect(typeof error.retryable).toBe('boolean');
  expect(reply.text).not.toMatch(/<html|<!DOCTYPE/i);
}

describe('HTTP server: bad input on every route', () => {
  let hub: TestHub;
  let f: Fixture;

  beforeAll(async () => {
    hub = await startHub({
      auth: new ApiKeyAuthenticator([
        { id: 'admin', key: KEYS.admin, scopes: ['admin'] },
        { id: 'reader', key: KEYS.reader, scopes: ['task:read'] },
        { id: 'agent', key: KEYS.agent, scopes: ['agent:connect'] },
        { id: 'submitter', key: KEYS.submitter, scopes: ['task:submit', 'task:read'] },
      ]),
      server: { bodyLimit: '64kb' },
      dispatcher: {
        limits: { maxPayloadBytes: 16 * 1024, maxResultBytes: 16 * 1024, maxMetadataBytes: 1024 },
      },
    });
    const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const reply = await hub.raw(method, path, { body, headers: ADMIN });
      if (reply.status !== 200) throw new Error(`${method} ${path}: ${reply.status} ${reply.text}`);
      return reply.json as T;
    };
    const { agentId } = await call<{ agentId: string }>('POST', '/agents/register', {
      agentId: 'bad-input-agent',
      name: 'b',
      skills: skills('bad'),
    });
    type Lease = { taskId: string; leaseToken: string };
    const lease = async (): Promise<Lease> => {
      const { task } = await call<{ task: { id: string } }>('POST', '/task', { capability: 'bad' });
      const { tasks } = await call<{ tasks: Lease[] }>('POST', `/agents/${agentId}/next_task`, {});
      expect(tasks.map((t) => t.taskId)).toEqual([task.id]);
      return { taskId: tasks[0]!.taskId, leaseToken: tasks[0]!.leaseToken };
    };
    const cancelled = await lease();
    await call('POST', `/task/${cancelled.taskId}/cancel`, {});
    const done = await lease();
    await call('POST', `/task/${done.taskId}/result`, {
      agentId,
      leaseToken: done.leaseToken,
      status: 'succeeded',
    });
    const leased = await lease();
    const { batchId } = await call<{ batchId: string }>('POST', '/batch_task', {
      tasks: [{ capability: 'unused' }],
    });
    f = { agentId, leased, cancelled, done, batchId };
  });
  afterAll(() => hub.close());

  it.each(cases)('$name → $status $code', async ({ method, path, body, headers, status, code, match }) => {
    const resolve = <T>(v: Dyn<T>): T => (typeof v === 'function' ? (v as (f: Fixture) => T)(f) : v);
    const reply = await hub.raw(method, resolve(path), {
      body: resolve(body),
      headers: { ...ADMIN, ...headers },
    });
    expectJsonError(reply, status, code, match);
    if (status === 405) expect(reply.headers.allow).toEqual(expect.any(String));
  });

  it.each(authCases)('$operation: no key → 401, wrong key → 401, key without $scope → 403', async (c) => {
    const send = (headers: Record<string, string>) => hub.raw(c.method, c.path, { body: c.body, headers });
    const none = await send({});
    expectJsonError(none, 401, 'UNAUTHENTICATED', /missing API key/);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const wrong = await send({ 'x-api-key': 'not-a-real-key' });
    expectJsonError(wrong, 401, 'UNAUTHENTICATED', /invalid API key/);
    expect(wrong.headers['www-authenticate']).toMatch(/^Bearer/);
    const basic = await send({ authorization: `Basic ${Buffer.from(`u:${KEYS.admin}`).toString('base64')}` });
    expect(basic.status).toBe(401);
    const forbidden = await send({ authorization: `Bearer ${KEYS[c.lacking]}` });
    expectJsonError(
      forbidden,
      403,
      'FORBIDDEN',
      new RegExp(`lacks scope ${c.scope}, required by ${c.operation.replace('.', '\\.')}`),
    );
  });

  it('the task the failed calls touched is unharmed', async () => {
    const reply = await hub.raw('GET', `/task_result/${f.leased.taskId}`, { headers: ADMIN });
    expect(reply.json).toMatchObject({ task: { state: 'leased', agentId: f.agentId } });
    // Nothing from the rejected submits and batches was stored.
    const other = await hub.raw('POST', `/agents/${f.agentId}/next_task`, {
      body: { max: 100 },
      headers: ADMIN,
    });
    expect(other.json).toEqual({ tasks: [] });
  });

  it('still answers /healthz and serves valid calls after all of that', async () => {
    const health = await hub.raw('GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok' });
    const ok = await hub.raw('POST', '/task', { body: { capability: 'after' }, headers: ADMIN });
    expect(ok.status).toBe(200);
  });
});
