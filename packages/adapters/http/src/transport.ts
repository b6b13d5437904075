/**
 * {@link HttpTransport}: the HTTP client face of the adapter, an `AgentCommInterface` over an
 * undici connection pool that speaks the route table.
 */
import {
  type AgentCommInterface,
  ConfigError,
  errorFromJSON,
  HubClient,
  type InboundMessage,
  InternalError,
  MAX_WAIT_MS,
  McpmasError,
  NotFoundError,
  type OperationName,
  TimeoutError,
  type TransportFeatures,
  UnavailableError,
  UnsupportedError,
} from '@mcpmas/core';
import { type Dispatcher, Pool } from 'undici';
import { errorFromStatus } from './plumbing.js';
import { encodeRequest, routeOf } from './routes.js';

/** Default time one request may take, long-polls excepted. */
export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;

/** Options of {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** The hub's base URL, e.g. `http://127.0.0.1:8080`; a path prefix (`…/api`) is kept. */
  baseUrl: string | URL;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /**
   * Longest time one request may take. A long-poll (`task.next`, `task.get` with `waitMs`)
   * gets its `waitMs` on top, so the wait itself never counts against it.
   * @default 30000
   */
  timeoutMs?: number;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
  /**
   * Most sockets kept to the hub. Each pending long-poll holds one, so keep this above the
   * number of concurrent long-polls. @default unlimited
   */
  connections?: number;
}

type AbortWhy = 'timeout' | 'caller' | 'stopped';

/**
 * `AgentCommInterface` over HTTP. `sendMessage(operation, request)` sends the operation along
 * its route and resolves with the reply; a failed call rejects with the hub's error rebuilt
 * as the matching `McpmasError` subclass. A hub that cannot be reached is an
 * `UnavailableError` (retryable); a request past its time is a `TimeoutError`. No push:
 * agents poll with `task.next`.
 */
export class HttpTransport implements AgentCommInterface {
  /** Always `http`. */
  readonly protocol = 'http';
  /** HTTP cannot push; `receiveMessage` throws. */
  readonly features: TransportFeatures = { push: false };
  private readonly origin: string;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  /** {@link HttpTransport.headers} plus the JSON content type, for requests with a body. */
  private readonly bodyHeaders: Record<string, string>;
  private pool: Pool | undefined;
  /** Requests in flight, ended by {@link HttpTransport.stop}. */
  private readonly inFlight = new Set<Exchange>();

  /** Validates the options; no connection is made until {@link HttpTransport.start}. */
  constructor(private readonly options: HttpTransportOptions) {
    let url: URL;
    try {
      url = new URL(String(options.baseUrl));
    } catch (error) {
      throw new ConfigError(`baseUrl is not a valid URL: ${String(options.baseUrl)}`, { cause: error });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(`baseUrl must be an http: or https: URL, got ${url.protocol}`);
    }
    this.origin = url.origin;
    this.prefix = url.pathname.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0) {
      throw new ConfigError(`timeoutMs must be a positive number, got ${options.timeoutMs}`);
    }
    if (
      options.connections !== undefined &&
      (!Number.isInteger(options.connections) || options.connections < 1)
    ) {
      throw new ConfigError(`connections must be a positive integer, got ${options.connections}`);
    }
    this.headers = { accept: 'application/json', ...options.headers };
    if (options.apiKey) this.headers.authorization = `Bearer ${options.apiKey}`;
    this.bodyHeaders = { ...this.headers, 'content-type': 'application/json' };
  }

  /** Opens the connection pool (connections are made on demand). */
  async start(): Promise<void> {
    this.open();
  }

  /** Ends in-flight requests (they reject with `UnavailableError`) and closes every socket. */
  async stop(): Promise<void> {
    const pool = this.pool;
    if (!pool) return;
    this.pool = undefined;
    for (const exchange of this.inFlight) exchange.abort('stopped');
    this.inFlight.clear();
    await pool.close();
  }

  /** Performs `target` with request `content` and resolves with the hub's reply. */
  async sendMessage(
    target: OperationName,
    content: unknown,
    options: { signal?: AbortSignal } = {},
  ): Promise<unknown> {
    const pool = this.pool;
    if (!pool) throw new InternalError('transport not started; call start() first');
    const route = routeOf(target);
    if (!route) throw new NotFoundError(`unknown operation "${target}"`, { details: { operation: target } });
    const outbound = encodeRequest(route, content);
    const signal = options.signal;
    if (signal?.aborted) throw new TimeoutError(`${target} aborted by the caller before it was sent`);

    // Clamped so that an out-of-range waitMs reaches the hub and is refused there by name.
    const timeoutMs = this.timeoutMs + Math.min(Math.max(outbound.waitMs ?? 0, 0), MAX_WAIT_MS);
    const exchange = new Exchange();
    this.inFlight.add(exchange);
    // One timer bounds the whole exchange; undici's own timers are off.
    const timer = setTimeout(() => exchange.abort('timeout'), timeoutMs);
    const onCaller = signal ? () => exchange.abort('caller') : undefined;
    if (onCaller) signal!.addEventListener('abort', onCaller, { once: true });
    const where = `${outbound.method} ${this.prefix}${outbound.path}`;
    try {
      pool.dispatch(
        {
          method: outbound.method,
          path: this.prefix + outbound.path,
          // Never changed by undici: the two prebuilt objects serve every request.
          headers: outbound.body !== undefined ? this.bodyHeaders : this.headers,
          body: outbound.body ?? null,
          headersTimeout: 0,
          bodyTimeout: 0,
        },
        exchange,
      );
      await exchange.done;
      return decodeReply(exchange.status, exchange.text(), where);
    } catch (error) {
      if (error instanceof McpmasError) throw error;
      const why = exchange.why;
      if (why === 'timeout') {
        throw new TimeoutError(`no reply to ${where} within ${timeoutMs} ms`, {
          cause: error,
          details: { timeoutMs },
        });
      }
      if (why === 'caller')
        throw new TimeoutError(`${where} aborted by the caller`, { cause: error, retryable: false });
      if (why === 'stopped')
        throw new UnavailableError(`${where} ended: the transport was stopped`, { cause: error });
      const code = (error as { code?: unknown }).code;
      throw new UnavailableError(`cannot reach the hub at ${this.origin}: ${(error as Error).message}`, {
        cause: error,
        details: { origin: this.origin, ...(typeof code === 'string' ? { code } : {}) },
      });
    } finally {
      clearTimeout(timer);
      if (onCaller) signal!.removeEventListener('abort', onCaller);
      this.inFlight.delete(exchange);
    }
  }

  /** Always throws `UnsupportedError`: the hub cannot push over HTTP. */
  receiveMessage(_handler: (message: InboundMessage) => void | Promise<void>): void {
    throw new UnsupportedError('the HTTP transport has no push; poll with task.next');
  }

  private open(): void {
    if (this.pool) return;
    this.pool = new Pool(this.origin, {
      ...(this.options.connections !== undefined ? { connections: this.options.connections } : {}),
    });
  }
}

/**
 * One request in flight, as the handler of undici's `dispatch`: it collects the status and
 * the body, and settles `done` once — with the body, or with the first error or abort. It
 * costs much less per call than `request()` with an `AbortController` (no signal, no event
 * listeners, no body stream), and an abort before undici has started the request is kept
 * and applied when it does.
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly done: Promise<void>;
  status = 0;
  why: AbortWhy | undefined;
  private readonly chunks: Buffer[] = [];
  private controller: Dispatcher.DispatchController | undefined;
  private settled = false;
  private resolve!: () => void;
  private reject!: (error: Error) => void;

  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** The body as UTF-8 text. */
  text(): string {
    const chunks = this.chunks;
    if (chunks.length === 0) return '';
    return chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
  }

  /** Ends the exchange for `why`; the first reason wins. */
  abort(why: AbortWhy): void {
    if (this.why || this.settled) return;
    this.why = why;
    const error = new Error(`request aborted (${why})`);
    this.controller?.abort(error);
    this.fail(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.why) controller.abort(new Error(`request aborted (${this.why})`));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    this.status = statusCode;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }

  private fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(error);
  }
}

/** A 2xx reply is the operation's reply; anything else becomes the error it carries. */
function decodeReply(status: number, text: string, where: string): unknown {
  let body: unknown;
  let parsed = false;
  try {
    body = JSON.parse(text);
    parsed = true;
  } catch {
    // Handled below: a reply that is not JSON is malformed (2xx) or a foreign error page.
  }
  if (status >= 200 && status < 300) {
    if (!parsed) throw new InternalError(`malformed reply to ${where}: not JSON`, { details: { status } });
    return body;
  }
  if (parsed && body && typeof body === 'object' && 'error' in body) {
    throw errorFromJSON((body as { error: unknown }).error);
  }
  const snippet = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  throw errorFromStatus(status, `HTTP ${status} from ${where}${snippet ? `: ${snippet}` : ''}`);
}

/**
 * A typed {@link HubClient} over a started {@link HttpTransport}. Call
 * `client.transport.stop()` when done to close its sockets.
 *
 * @example
 * const hub = createHttpClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: process.env.MCPMAS_API_KEY });
 * const { task } = await hub.submit({ capability: 'echo', payload: 'hi' });
 */
export function createHttpClient(options: HttpTransportOptions): HubClient {
  const transport = new HttpTransport(options);
  // start() has no await inside, so the pool exists as soon as this line returns.
  void transport.start();
  return new HubClient(transport);
}
