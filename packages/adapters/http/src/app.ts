/**
 * The express application: the route table bound to a dispatcher. Each operation route
 * decodes the HTTP request, calls `dispatcher.dispatch` and encodes the reply — nothing else.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { IncomingMessage } from 'node:http';
import {
  type CallContext,
  type Dispatcher,
  type McpmasError,
  NotFoundError,
  TraceparentSchema,
  UnavailableError,
  UnsupportedError,
  ValidationError,
} from '@mcpmas/core';
import express, {
  type Express,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import { DEFAULT_BODY_LIMIT, sendError, sendJson, statusOf, toMcpmasError, withStatus } from './plumbing.js';
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

/** `application/json` and `application/<anything>+json`, with or without parameters. */
const JSON_CONTENT_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;

/**
 * A body without a Content-Type is read as JSON, so bodiless POSTs (which node and undici
 * send as `content-length: 0` or chunked) just work. A declared type other than JSON (say
 * curl's default `application/x-www-form-urlencoded` for `-d`) is refused with 415.
 */
function readsAsJson(req: IncomingMessage): boolean {
  const type = req.headers['content-type']?.trim();
  return !type || JSON_CONTENT_TYPE.test(type);
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/**
 * Builds the express app serving every operation of the route table on `dispatcher`, plus
 * `GET /healthz` and `GET /metrics`. Unknown routes answer 404, a wrong method 405 (with
 * `Allow`), and every error is JSON: `{ "error": { code, message, retryable, details } }`.
 * Embed it in a server of your own, or let {@link HttpServerAdapter} run it.
 */
export function createHttpApp(dispatcher: Dispatcher, options: HttpAppOptions = {}): Express {
  const app = express();
  const shutdown = options.signal;
  // One listener per request in flight, each removed when its response closes.
  if (shutdown) setMaxListeners(0, shutdown);
  app.disable('x-powered-by');
  app.set('etag', false);
  // Flat `name=value` pairs only: `a[b]=1` stays an (unknown) parameter named `a[b]`.
  app.set('query parser', 'simple');

  // Not strict: a `null` or `5` body then gets "must be an object", not a misleading parse error.
  const json = express.json({
    limit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    type: readsAsJson,
    strict: false,
  });
  const reply = (res: Response, status: number, body: unknown) => {
    if (shutdown?.aborted) res.set('Connection', 'close');
    sendJson(res, status, body);
  };

  app.use((req, res, next) => {
    const given = req.get('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.set('X-Request-Id', requestId);
    if (shutdown?.aborted) throw new UnavailableError('the server is shutting down');
    next();
  });

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

  const requireJson: RequestHandler = (req, _res, next) => {
    if (hasBody(req) && !readsAsJson(req)) {
      const got = req.get('content-type') ?? 'none';
      const message = `Content-Type must be application/json, got ${got}`;
      throw withStatus(new ValidationError(message, { details: { issues: [{ path: '', message }] } }), 415);
    }
    next();
  };

  const operation = (route: HttpRoute): RequestHandler => {
    return async (req, res) => {
      const request = decodeRequest(route, {
        params: req.params,
        query: req.query as Record<string, unknown>,
        body: req.body,
      });
      reply(res, 200, await dispatcher.dispatch(route.operation, request, contextOf(req, res, shutdown)));
    };
  };

  for (const route of Object.values(ROUTES)) {
    if (route.method === 'GET') app.get(route.path, operation(route));
    else app.post(route.path, requireJson, json, operation(route));
    allow(route.path, route.method);
  }

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

/**
 * The call context of one HTTP request: credentials from `Authorization: Bearer` or
 * `X-API-Key`, a valid W3C `traceparent`, the peer address, the request id, and a signal
 * aborted when the client goes away before the reply is sent (or the server shuts down).
 */
function contextOf(req: Request, res: Response, shutdown: AbortSignal | undefined): CallContext {
  const controller = new AbortController();
  const abort = () => controller.abort();
  shutdown?.addEventListener('abort', abort, { once: true });
  res.once('close', () => {
    shutdown?.removeEventListener('abort', abort);
    if (!res.writableFinished) abort();
  });

  const context: CallContext = {
    protocol: 'http',
    signal: controller.signal,
    requestId: res.locals.requestId as string,
  };
  const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.get('authorization') ?? '');
  const credentials = bearer?.[1] ?? req.get('x-api-key')?.trim();
  if (credentials) context.credentials = credentials;
  // An invalid traceparent is ignored, as W3C trace context asks.
  const traceparent = req.get('traceparent')?.trim();
  if (traceparent && TraceparentSchema.safeParse(traceparent).success) context.traceparent = traceparent;
  if (req.socket.remoteAddress) context.remoteAddress = req.socket.remoteAddress;
  return context;
}
