/**
 * The HTTP route table: one entry per operation saying which method and path carry it and how
 * path parameters, query parameters and the JSON body map onto the operation's request. The
 * server decodes with {@link decodeRequest} and the client encodes with {@link encodeRequest},
 * both from this one table, so they cannot drift apart.
 */
import { isOperationName, type OperationName, validationFromIssues } from '@mcpmas/core';

/** HTTP methods the routes use. */
export type HttpMethod = 'GET' | 'POST';

/**
 * How a query parameter's text becomes a request field: `int` is a JSON number written in
 * decimal (the schema then checks range and integrality), `string` is taken as is, `list` is
 * comma-separated and/or repeated (`?capabilities=a,b` or `?capabilities=a&capabilities=b`).
 */
export type QueryType = 'int' | 'string' | 'list';

/** A path parameter such as `:task_id` and the request field it fills. */
export interface PathParam {
  /** Name in the path pattern, without the colon. */
  readonly name: string;
  /** Request field it fills. */
  readonly field: string;
}

/**
 * A query parameter and the request field it fills. The server accepts both the snake_case
 * `name` and the camelCase `field` spelling; the client sends `name`.
 */
export interface QueryParam {
  readonly name: string;
  readonly field: string;
  readonly type: QueryType;
}

/** One route of the table. */
export interface HttpRoute {
  readonly operation: OperationName;
  readonly method: HttpMethod;
  /** Express-style pattern, e.g. `/task_result/:task_id`. */
  readonly path: string;
  readonly params: readonly PathParam[];
  readonly query: readonly QueryParam[];
  /** True when the request's remaining fields travel as a JSON object body. */
  readonly body: boolean;
  /** True when the request may carry `waitMs` (a long-poll); the client extends its timeout by it. */
  readonly waits: boolean;
}

const taskId: PathParam = { name: 'task_id', field: 'taskId' };
const agentId: PathParam = { name: 'agent_id', field: 'agentId' };
const batchId: PathParam = { name: 'batch_id', field: 'batchId' };
const waitMs: QueryParam = { name: 'wait_ms', field: 'waitMs', type: 'int' };

function route(
  operation: OperationName,
  method: HttpMethod,
  path: string,
  extra: Partial<Pick<HttpRoute, 'params' | 'query' | 'waits'>> = {},
): HttpRoute {
  return {
    operation,
    method,
    path,
    params: extra.params ?? [],
    query: extra.query ?? [],
    body: method === 'POST',
    waits: extra.waits ?? false,
  };
}

/**
 * The public HTTP contract: every operation of the core table and its route. The seed's
 * routes (`POST /task`, `POST /batch_task`, `GET /task_result/:task_id`, `GET /agent_status`)
 * keep their names.
 */
export const ROUTES: { readonly [Op in OperationName]: HttpRoute } = {
  'task.submit': route('task.submit', 'POST', '/task'),
  'task.submit_batch': route('task.submit_batch', 'POST', '/batch_task'),
  'task.get': route('task.get', 'GET', '/task_result/:task_id', {
    params: [taskId],
    query: [waitMs],
    waits: true,
  }),
  'agents.status': route('agents.status', 'GET', '/agent_status', {
    query: [{ name: 'capability', field: 'capability', type: 'string' }],
  }),
  'task.cancel': route('task.cancel', 'POST', '/task/:task_id/cancel', { params: [taskId] }),
  'batch.get': route('batch.get', 'GET', '/batch/:batch_id', { params: [batchId] }),
  'agent.register': route('agent.register', 'POST', '/agents/register'),
  'agent.heartbeat': route('agent.heartbeat', 'POST', '/agents/:agent_id/heartbeat', { params: [agentId] }),
  'agent.unregister': route('agent.unregister', 'POST', '/agents/:agent_id/unregister', {
    params: [agentId],
  }),
  'task.next': route('task.next', 'POST', '/agents/:agent_id/next_task', {
    params: [agentId],
    query: [
      waitMs,
      { name: 'max', field: 'max', type: 'int' },
      { name: 'capabilities', field: 'capabilities', type: 'list' },
    ],
    waits: true,
  }),
  'task.progress': route('task.progress', 'POST', '/task/:task_id/progress', { params: [taskId] }),
  'task.result': route('task.result', 'POST', '/task/:task_id/result', { params: [taskId] }),
};

/** The route of an operation, or undefined for a name outside the operation table. */
export function routeOf(operation: string): HttpRoute | undefined {
  return isOperationName(operation) ? ROUTES[operation] : undefined;
}

/** The parts of an inbound HTTP request that carry the operation's request. */
export interface InboundParts {
  /** Decoded path parameters by name. */
  params: Record<string, unknown>;
  /** Parsed query string: one string, or an array when a name repeats. */
  query: Record<string, unknown>;
  /** The parsed JSON body; `undefined` when there was none. */
  body: unknown;
}

/**
 * Builds the operation's request from an inbound HTTP request: the JSON body's fields, then
 * query parameters, then path parameters. A field given twice with different values (say a
 * body `taskId` that contradicts the path) is a `ValidationError` naming it, as is an unknown
 * query parameter or a number that does not parse. The result is validated by the dispatcher.
 */
export function decodeRequest(route: HttpRoute, parts: InboundParts): Record<string, unknown> {
  const issues: Issue[] = [];
  let request: Record<string, unknown> = {};
  if (route.body && parts.body !== undefined) {
    // A copy by Object.assign takes the fields added below (path and query parameters) on
    // V8's fast path; a copy made by spread does not (about 0.5 µs per added field). A body
    // with its own `__proto__` key is still copied by spread: Object.assign would set the
    // copy's prototype instead of copying the key.
    if (isPlainObject(parts.body)) {
      request = Object.hasOwn(parts.body, '__proto__') ? { ...parts.body } : Object.assign({}, parts.body);
    } else issues.push({ path: [], message: `the JSON body must be an object, not ${describe(parts.body)}` });
  }

  // `source` names where the value came from; it is only spelled out when there is a conflict.
  const put = (field: string, value: unknown, from: 'query' | 'path', name: string) => {
    if (Object.hasOwn(request, field) && !sameJson(request[field], value)) {
      const source = from === 'query' ? `query parameter ${name}` : `the URL path (${name})`;
      issues.push({
        path: [field],
        message: `${source} gives ${JSON.stringify(value)} but the request already has ${JSON.stringify(request[field])}`,
      });
      return;
    }
    request[field] = value;
  };

  for (const [key, raw] of Object.entries(parts.query)) {
    const spec = route.query.find((q) => q.name === key || q.field === key);
    if (!spec) {
      issues.push({ path: [key], message: `unknown query parameter "${key}"` });
      continue;
    }
    const parsed = parseQueryValue(spec, key, raw);
    if ('error' in parsed) issues.push({ path: [spec.field], message: parsed.error });
    else put(spec.field, parsed.value, 'query', key);
  }

  for (const param of route.params) {
    put(param.field, parts.params[param.name], 'path', param.name);
  }

  if (issues.length > 0) throw validationFromIssues(issues);
  return request;
}

/** An outbound HTTP request built from an operation's request. */
export interface OutboundRequest {
  method: HttpMethod;
  /** Path with parameters filled in and percent-encoded, plus the query string if any. */
  path: string;
  /** JSON text of the body, for POST routes. */
  body?: string;
  /** The request's `waitMs`, when the route waits and one was given. */
  waitMs?: number;
}

/**
 * Turns an operation's request into method, path, query and body along the route table.
 * Fields that cannot be carried faithfully — a missing path id, a non-string where the URL
 * needs text — are a `ValidationError` naming the field before anything is sent. Everything
 * else (ranges, unknown fields) is left to the server, so errors read the same on every protocol.
 */
export function encodeRequest(route: HttpRoute, content: unknown): OutboundRequest {
  const issues: Issue[] = [];
  if (content !== undefined && content !== null && !isPlainObject(content)) {
    throw validationFromIssues([
      { path: [], message: `the request must be an object, not ${describe(content)}` },
    ]);
  }
  // Read in place, never copied and trimmed with `delete` (which leaves V8's fast paths).
  const fields = (content ?? {}) as Record<string, unknown>;

  let path = route.path;
  for (const param of route.params) {
    const value = ownField(fields, param.field);
    if (typeof value !== 'string' || value === '') {
      issues.push({
        path: [param.field],
        message:
          value === undefined || value === ''
            ? 'is required (it is part of the URL path)'
            : `must be a string (it is part of the URL path), not ${describe(value)}`,
      });
      continue;
    }
    path = path.replace(`:${param.name}`, encodeURIComponent(value));
  }

  const out: OutboundRequest = { method: route.method, path };
  const wait = ownField(fields, 'waitMs');
  if (route.waits && typeof wait === 'number' && Number.isFinite(wait)) out.waitMs = wait;

  if (route.body) {
    out.body = JSON.stringify(route.params.length === 0 ? fields : withoutPathFields(route, fields));
  } else {
    let query = '';
    for (const field of Object.keys(fields)) {
      const value = fields[field];
      if (value === undefined || isPathField(route, field)) continue;
      const spec = route.query.find((q) => q.field === field);
      const written = spec ? queryPairs(spec, value) : unknownPair(field, value);
      if (written.problem) issues.push({ path: [field], message: written.problem });
      else query += (query ? '&' : '') + written.pairs;
    }
    if (query) out.path += `?${query}`;
  }
  if (issues.length > 0) throw validationFromIssues(issues);
  return out;
}

/** `fields[key]` when it is an own enumerable field (what a spread copy would have). */
function ownField(fields: Record<string, unknown>, key: string): unknown {
  return Object.prototype.propertyIsEnumerable.call(fields, key) ? fields[key] : undefined;
}

function isPathField(route: HttpRoute, field: string): boolean {
  for (const param of route.params) if (param.field === field) return true;
  return false;
}

/** The body's fields: every own enumerable field but those the path carries, in order. */
function withoutPathFields(route: HttpRoute, fields: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const key of Object.keys(fields)) {
    if (isPathField(route, key)) continue;
    // A field named `__proto__` stays a field, as in a spread copy, not the body's prototype.
    if (key === '__proto__') {
      Object.defineProperty(body, key, {
        value: fields[key],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else body[key] = fields[key];
  }
  return body;
}

/** `name=value` pairs (percent-encoded), or what is wrong with the value. */
type Written = { pairs: string; problem?: undefined } | { pairs?: undefined; problem: string };

function pair(name: string, value: string): string {
  return `${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
}

function queryPairs(spec: QueryParam, value: unknown): Written {
  if (spec.type === 'int') {
    if (typeof value !== 'number' || !Number.isFinite(value))
      return { problem: `must be a number, not ${describe(value)}` };
    return { pairs: pair(spec.name, String(value)) };
  }
  if (spec.type === 'string') {
    if (typeof value !== 'string') return { problem: `must be a string, not ${describe(value)}` };
    return { pairs: pair(spec.name, value) };
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    return { problem: `must be an array of strings, not ${describe(value)}` };
  }
  // An empty list cannot be written in a query; let the server's schema reject it by name.
  if (value.length === 0) return { pairs: pair(spec.name, '') };
  return { pairs: value.map((v) => pair(spec.name, v)).join('&') };
}

/** Unknown fields still travel, so the server rejects them by name exactly as other protocols do. */
function unknownPair(field: string, value: unknown): Written {
  return { pairs: pair(field, typeof value === 'string' ? value : String(JSON.stringify(value))) };
}

interface Issue {
  path: string[];
  message: string;
}

function parseQueryValue(
  spec: QueryParam,
  key: string,
  raw: unknown,
): { value: unknown } | { error: string } {
  const values = Array.isArray(raw) ? raw.map(String) : [String(raw)];
  if (spec.type === 'list') {
    return { value: values.flatMap((v) => v.split(',')).filter((v) => v !== '') };
  }
  if (values.length !== 1)
    return { error: `query parameter ${key} is given ${values.length} times; give it once` };
  const text = values[0]!;
  if (spec.type === 'string') return { value: text };
  // A decimal JSON number only: `Number()` would also accept '', '0x10' and ' 1 '.
  if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) {
    return { error: `query parameter ${key} must be a number, got ${JSON.stringify(text)}` };
  }
  return { value: Number(text) };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
