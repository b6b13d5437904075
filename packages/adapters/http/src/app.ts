/**
 * The express application: the route table bound to a dispatcher. Each operation route
 * decodes the HTTP request, calls `dispatcher.dispatch` and encodes the reply — nothing else.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import {
  ConfigError,
  type Dispatcher,
  LazyCallContext,
  type McpmasError,
  NotFoundError,
  TraceparentSchema,
  UnavailableError,
  UnsupportedError,
  ValidationError,
} from '@mcpmas/core';
import bytes from 'bytes';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import {
  DEFAULT_BODY_LIMIT,
  errorFromStatus,
  hasBody,
  isPlainUtf8,
  readJsonBody,
  readsAsJson,
  sendError,
  sendJson,
  statusOf,
  toMcpmasError,
  withStatus,
  writeJson,
} from './plumbing.js';
import { decodeRequest, type HttpRoute, ROUTES } from './routes.js';

/** What `GET /metrics` serves, e.g. prom-client's `register.contentType` and `register.metrics()`. */
export interface MetricsSnapshot {
  contentType: string;
  body: string;
}

/** Options of {@link createHttpApp}. */
export interface HttpAppOptions {
  /** Largest JSON body read, in bytes or as text such as `'512kb'`. @default '1mb' */
  bodyLimit?: string | number;
  /**
   * Adds routes of your own (the MCP adapter mounts `/mcp` here). Called after the operation
   * routes and before the 404/405 fallbacks; these routes get no JSON parser of ours, and
   * their errors still come back as JSON.
   */
  mount?: (app: Express) => void;
  /** Serves `GET /metrics`; without it that route answers 404. Not behind API keys. */
  metrics?: () => Promise<MetricsSnapshot>;
  /**
   * Extra fields for `GET /healthz`, merged over `{ status: 'ok' }`. Throwing makes the check
   * answer 503. Not behind API keys.
   */
  health?: () => Promise<Record<string, unknown>>;
  /**
   * Aborting this ends every in-flight call's wait (long-polls return at once) and makes new
   * requests answer 503 with `Connection: close`. {@link HttpServerAdapter.stop} uses it.
   */
  signal?: AbortSignal;
  /** Told about every 5xx reply (internal errors, failed health checks), e.g. to log it. */
  onError?: (error: McpmasError, req: Request) => void;
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The node-level listener of each app made by {@link createHttpApp}. */
const listeners = new WeakMap<Express, RequestListener>();
/** Operation requests the node-level listener failed, on their way to the app's error handler. */
const failedOperations = new WeakMap<IncomingMessage, { error: unknown; requestId: string }>();

/** The client's `X-Request-Id` when it is a sensible one, else a new UUID. */
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * The listener to give a node HTTP server's `'request'` event for `app`: for an app made by
 * {@link createHttpApp}, one that serves the operation routes before express (same replies,
 * same errors, less work per call) and hands every other request to `app`; for any other app,
 * `app` itself. Pair it with `expressServerOptions(app)`:
 *
 * ```ts
 * const app = createHttpApp(dispatcher);
 * const server = createServer(expressServerOptions(app), httpRequestListener(app));
 * ```
 */
export function httpRequestListener(app: Express): RequestListener {
  return listeners.get(app) ?? app;
}

/**
 * Builds the express app serving every operation of the route table on `dispatcher`, plus
 * `GET /healthz` and `GET /metrics`. Unknown routes answer 404, a wrong method 405 (with
 * `Allow`), and every error is JSON: `{ "error": { code, message, retryable, details } }`.
 * Embed it in a server of your own, or let {@link HttpServerAdapter} run it.
 *
 * The operation routes are served by one handler in front of the router: it looks the route
 * up in the route table itself, reads the JSON body itself (body-parser only for compressed or
 * non-UTF-8 bodies) and writes the reply in one `writeHead`. Everything else — health,
 * metrics, mounted routes, 404/405/OPTIONS, the error handler — goes through express as usual.
 * A server of your own can serve the operation routes before express even sees them: give it
 * {@link httpRequestListener}`(app)` instead of `app`.
 */
export function createHttpApp(dispatcher: Dispatcher, options: HttpAppOptions = {}): Express {
  const app = express();
  const shutdown = options.signal;
  // Calls whose signal exists (long-polls): aborted together when the server shuts down.
  const waiting = new Set<HttpCallContext>();
  shutdown?.addEventListener(
    'abort',
    () => {
      for (const context of waiting) context.abort();
      waiting.clear();
    },
    { once: true },
  );
  app.disable('x-powered-by');
  app.set('etag', false);
  // Flat `name=value` pairs only: `a[b]=1` stays an (unknown) parameter named `a[b]`.
  app.set('query parser', 'simple');

  const limitOption = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const limit = typeof limitOption === 'number' ? limitOption : bytes.parse(limitOption);
  if (limit === null || !Number.isFinite(limit) || limit < 0) {
    throw new ConfigError(`bodyLimit must be a number of bytes or a size such as '1mb', got ${limitOption}`);
  }
  // Compressed and non-UTF-8 bodies only. Not strict: a `null` or `5` body then gets "must be
  // an object", not a misleading parse error.
  const json = express.json({ limit, type: readsAsJson, strict: false });
  const readBody = (req: IncomingMessage, res: ServerResponse): Promise<unknown> => {
    if (!readsAsJson(req)) {
      const message = `Content-Type must be application/json, got ${req.headers['content-type'] ?? 'none'}`;
      throw withStatus(new ValidationError(message, { details: { issues: [{ path: '', message }] } }), 415);
    }
    // Read already, by body-parser in an app this one is embedded in.
    if (req.readableEnded) return Promise.resolve((req as Request).body);
    if (isPlainUtf8(req)) return readJsonBody(req, limit);
    return new Promise((resolve, reject) => {
      void json(req as Request, res as Response, (error?: unknown) =>
        error ? reject(error) : resolve((req as Request).body),
      );
    });
  };

  const serveOperation = async (
    req: IncomingMessage,
    res: ServerResponse,
    found: RouteMatch,
    requestId: string,
  ) => {
    const { route } = found;
    const body = route.body && hasBody(req) ? await readBody(req, res) : undefined;
    const request = decodeRequest(route, { params: found.params, query: queryOf(req.url ?? ''), body });
    const context = new HttpCallContext(req, res, requestId, waiting, shutdown);
    const reply = await dispatcher.dispatch(route.operation, request, context);
    writeJson(res, 200, reply, requestId, shutdown?.aborted === true);
  };

  // Requests the node-level listener (see httpRequestListener) served as operations and
  // failed: their error goes through this app's error handler, like every other error.
  app.use((req, res, next) => {
    const failed = failedOperations.get(req);
    if (failed) {
      failedOperations.delete(req);
      res.locals.requestId = failed.requestId;
      next(failed.error);
      return;
    }
    const requestId = requestIdOf(req);
    res.locals.requestId = requestId;
    let found: RouteMatch | undefined;
    try {
      found = shutdown?.aborted ? undefined : matchRoute(req.method, req.url);
    } catch (error) {
      res.setHeader('X-Request-Id', requestId);
      throw error;
    }
    if (!found) {
      res.setHeader('X-Request-Id', requestId);
      if (shutdown?.aborted) throw new UnavailableError('the server is shutting down');
      next();
      return;
    }
    serveOperation(req, res, found, requestId).catch((error: unknown) => {
      if (!res.headersSent) res.setHeader('X-Request-Id', requestId);
      next(error);
    });
  });

  // The same for a node server's 'request' event, in front of express: an operation route is
  // served here without the app's request handling (its router, its per-request setup), and
  // everything else — other routes, errors, shutdown, a path that fails to decode — is handed
  // to the app, which then answers exactly as it would have on its own.
  const listener: RequestListener = (req, res) => {
    let found: RouteMatch | undefined;
    if (!shutdown?.aborted) {
      try {
        found = matchRoute(req.method, req.url);
      } catch {
        // The app matches again and answers with the same error.
      }
    }
    if (!found) {
      app(req, res);
      return;
    }
    const requestId = requestIdOf(req);
    serveOperation(req, res, found, requestId).catch((error: unknown) => {
      if (!res.headersSent) res.setHeader('X-Request-Id', requestId);
      failedOperations.set(req, { error, requestId });
      app(req, res);
    });
  };
  listeners.set(app, listener);

  const reply = (res: Response, status: number, body: unknown) => {
    if (shutdown?.aborted) res.set('Connection', 'close');
    sendJson(res, status, body);
  };

  const allowed = new Map<string, string[]>();
  const allow = (path: string, method: string) => allowed.set(path, [...(allowed.get(path) ?? []), method]);

  app.get('/healthz', async (_req, res) => {
    let extra: Record<string, unknown> = {};
    if (options.health) {
      try {
        extra = await options.health();
      } catch (error) {
        throw new UnavailableError(`health check failed: ${toMcpmasError(error).message}`, { cause: error });
      }
    }
    reply(res, 200, { status: 'ok', ...extra });
  });
  allow('/healthz', 'GET');

  app.get('/metrics', async (_req, res) => {
    if (!options.metrics) throw new NotFoundError('metrics are not enabled on this server');
    const { contentType, body } = await options.metrics();
    res.status(200).type(contentType).set('Cache-Control', 'no-store').send(body);
  });
  allow('/metrics', 'GET');

  // The operation routes themselves are served above; here they only get their 405s.
  for (const route of Object.values(ROUTES)) allow(route.path, route.method);

  options.mount?.(app);

  for (const [path, methods] of allowed) {
    const list = methods.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])).join(', ');
    app.all(path, (req, res) => {
      res.set('Allow', list);
      if (req.method === 'OPTIONS') {
        res.status(204).end();
        return;
      }
      throw withStatus(
        new UnsupportedError(`method ${req.method} is not allowed on ${req.path}; use ${list}`, {
          details: { method: req.method, path: req.path, allow: methods },
        }),
        405,
      );
    });
  }

  app.use((req) => {
    throw new NotFoundError(`no route ${req.method} ${req.path}`, {
      details: { method: req.method, path: req.path },
    });
  });

  // Express recognises an error handler by its four parameters.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const err = toMcpmasError(error);
    if (statusOf(err) >= 500) options.onError?.(err, req);
    if (shutdown?.aborted) res.set('Connection', 'close');
    sendError(res, err);
  });

  return app;
}

/** A route of the table matched against a request, with its path parameters decoded. */
interface RouteMatch {
  route: HttpRoute;
  params: Record<string, string>;
}

/** A route's path split at `/`: literal segments (lower case) and parameters. */
interface CompiledRoute {
  route: HttpRoute;
  segments: Array<string | { param: string }>;
}

/** A method's routes by their first (literal, lower-case) path segment, in table order. */
function compileRoutes(method: HttpRoute['method']): Map<string, CompiledRoute[]> {
  const byFirst = new Map<string, CompiledRoute[]>();
  for (const route of Object.values(ROUTES)) {
    if (route.method !== method) continue;
    const segments = route.path
      .split('/')
      .slice(1)
      .map((segment) => (segment.startsWith(':') ? { param: segment.slice(1) } : segment.toLowerCase()));
    const first = segments[0];
    if (typeof first !== 'string') throw new Error(`route ${route.path} must start with a literal segment`);
    byFirst.set(first, [...(byFirst.get(first) ?? []), { route, segments }]);
  }
  return byFirst;
}

const GET_ROUTES = compileRoutes('GET');
const POST_ROUTES = compileRoutes('POST');

/**
 * Looks the operation route of a request up in the route table, matching the way express's
 * router did when each route was a router layer: literal segments case-insensitively, one
 * optional trailing slash, HEAD served by GET routes, and parameters (non-empty, no `/`)
 * percent-decoded — undecodable ones are a 400 naming the parameter.
 */
export function matchRoute(method: string | undefined, url: string | undefined): RouteMatch | undefined {
  const table =
    method === 'POST' ? POST_ROUTES : method === 'GET' || method === 'HEAD' ? GET_ROUTES : undefined;
  if (!table || !url || url.charCodeAt(0) !== 47 /* '/' */) return undefined;
  const q = url.indexOf('?');
  let path = q < 0 ? url : url.slice(0, q);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  const parts = segmentsOf(path);
  // Every route starts with a literal segment: only the routes sharing it are tried.
  const first = parts[0]!;
  const candidates = table.get(first) ?? table.get(first.toLowerCase());
  if (!candidates) return undefined;
  for (const { route, segments } of candidates) {
    if (segments.length !== parts.length) continue;
    let params: Record<string, string> | undefined;
    let i = 1;
    for (; i < segments.length; i++) {
      const segment = segments[i]!;
      const part = parts[i]!;
      if (typeof segment === 'string') {
        if (segment !== part && segment !== part.toLowerCase()) break;
      } else {
        if (part === '') break;
        params ??= {};
        params[segment.param] = decodeParam(part);
      }
    }
    if (i === segments.length) return { route, params: params ?? {} };
  }
  return undefined;
}

/** The segments of a path that starts with `/` (what `path.slice(1).split('/')` gives, faster). */
function segmentsOf(path: string): string[] {
  const parts: string[] = [];
  let start = 1;
  for (;;) {
    const end = path.indexOf('/', start);
    if (end < 0) {
      parts.push(path.slice(start));
      return parts;
    }
    parts.push(path.slice(start, end));
    start = end + 1;
  }
}

function decodeParam(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    // The router's wording and status for the same failure.
    throw withStatus(errorFromStatus(400, `Failed to decode param '${value}'`), 400);
  }
}

const NO_QUERY: Record<string, unknown> = {};

/** The query of `url` parsed as express's `simple` query parser does (`node:querystring`). */
function queryOf(url: string): Record<string, unknown> {
  const q = url.indexOf('?');
  return q < 0 ? NO_QUERY : parseQuery(url.slice(q + 1));
}

/**
 * The call context of one HTTP request: credentials from `Authorization: Bearer` or
 * `X-API-Key`, a valid W3C `traceparent`, the peer address, the request id, and a signal
 * aborted when the client goes away before the reply is sent (or the server shuts down). The
 * signal, and the listeners behind it, are only made for calls that read it: those that wait.
 */
class HttpCallContext extends LazyCallContext {
  readonly #res: ServerResponse;
  readonly #waiting: Set<HttpCallContext>;
  readonly #shutdown: AbortSignal | undefined;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    waiting: Set<HttpCallContext>,
    shutdown: AbortSignal | undefined,
  ) {
    super('http');
    this.#res = res;
    this.#waiting = waiting;
    this.#shutdown = shutdown;
    this.requestId = requestId;
    const headers = req.headers;
    const authorization = headers.authorization;
    const bearer = authorization ? BEARER.exec(authorization) : null;
    const apiKey = headers['x-api-key'];
    const credentials = bearer?.[1] ?? (typeof apiKey === 'string' ? apiKey.trim() : undefined);
    if (credentials) this.credentials = credentials;
    // An invalid traceparent is ignored, as W3C trace context asks.
    const given = headers.traceparent;
    const traceparent = typeof given === 'string' ? given.trim() : undefined;
    if (traceparent && TraceparentSchema.safeParse(traceparent).success) this.traceparent = traceparent;
    const remoteAddress = req.socket.remoteAddress;
    if (remoteAddress) this.remoteAddress = remoteAddress;
  }

  protected override watch(): void {
    const res = this.#res;
    if (res.closed) {
      if (!res.writableFinished) this.abort();
      return;
    }
    if (this.#shutdown?.aborted) {
      this.abort();
      return;
    }
    this.#waiting.add(this);
    res.once('close', () => {
      this.#waiting.delete(this);
      if (!res.writableFinished) this.abort();
    });
  }
}
