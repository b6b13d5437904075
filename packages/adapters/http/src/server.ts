/**
 * {@link HttpServerAdapter}: runs the express app of {@link createHttpApp} on a node HTTP
 * server, with a graceful stop.
 */
import { createServer, IncomingMessage, type Server, type ServerOptions, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, ConflictError, type Dispatcher, InternalError, type ServerAdapter } from '@mcpmas/core';
import type { Express } from 'express';
import { createHttpApp, type HttpAppOptions, httpRequestListener } from './app.js';
import { answerClientError } from './plumbing.js';

/** Default listening address: loopback only, so nothing is exposed by accident. */
export const DEFAULT_HTTP_HOST = '127.0.0.1';
/** Default listening port. */
export const DEFAULT_HTTP_PORT = 8080;
/** Default time in-flight requests get to finish on stop before their sockets are destroyed. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 2000;

/** Options of {@link HttpServerAdapter}. */
export interface HttpServerOptions extends Omit<HttpAppOptions, 'signal'> {
  /** TCP port; `0` picks a free one (read it back with `address()`). @default 8080 */
  port?: number;
  /** Interface to listen on; `0.0.0.0` or `::` for all. @default '127.0.0.1' */
  host?: string;
  /**
   * On stop, how long replies already being written get before every remaining socket is
   * destroyed. Long-polls end at once on stop, so this only matters for slow readers.
   * @default 2000
   */
  shutdownGraceMs?: number;
}

/**
 * Options for `http.createServer(options, app)` under which the server's requests and
 * responses are born as instances of the express app's own `request` and `response`
 * prototypes.
 *
 * Express gives every request and response the app's prototypes with `Object.setPrototypeOf`.
 * Changing the prototype of a live object moves it to V8's slow paths for every later
 * property access — in node's HTTP internals as much as in express — and on the hub's small
 * calls that cost more CPU than all the rest of the call (`pnpm bench:protocols`: about 136 →
 * 76 µs of hub CPU per HTTP call). For an object that already has the prototype, express's
 * call changes nothing.
 *
 * The instances come from subclasses of node's `IncomingMessage` and `ServerResponse`, so V8
 * lays them out as it does node's own (a plain function calling node's constructor on its
 * `this` left every response in dictionary mode: about 2 µs more per request, and slower
 * property access all through node's HTTP code). The subclasses' prototypes inherit from the
 * app's, and become the app's `request` and `response`, so express finds its prototypes in
 * place; whatever the app's prototypes had or get later is still inherited. Express still
 * handles every request exactly as before; requests that reach another app (say one this app
 * is mounted in) just keep the usual cost.
 */
export function expressServerOptions(
  app: Express,
): Pick<ServerOptions, 'IncomingMessage' | 'ServerResponse'> {
  class AppRequest extends IncomingMessage {}
  class AppResponse extends ServerResponse {}
  app.request = adopt(AppRequest.prototype, app.request);
  app.response = adopt(AppResponse.prototype, app.response);
  return {
    IncomingMessage: AppRequest,
    ServerResponse: AppResponse as unknown as typeof ServerResponse,
  };
}

/**
 * Puts `proto` in front of an app's prototype `appProto`, with `appProto`'s own properties
 * (express keeps the app there) copied, so that express re-parenting it when the app is
 * mounted in another app gives the same chain as it gives the app's own prototype.
 */
function adopt<T extends object>(proto: object, appProto: T): T {
  for (const key of Reflect.ownKeys(appProto)) {
    if (key === 'constructor') continue;
    Object.defineProperty(proto, key, Object.getOwnPropertyDescriptor(appProto, key)!);
  }
  Object.setPrototypeOf(proto, appProto);
  return proto as T;
}

/**
 * Stops a node HTTP server gracefully: no new connections, idle ones closed now, and every
 * connection still open after `graceMs` destroyed. Resolves once the server is closed.
 */
export function closeHttpServer(server: Server, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** Where a started server listens. */
export interface HttpServerAddress {
  host: string;
  port: number;
  /** Base URL for clients, e.g. `http://127.0.0.1:8080`. */
  url: string;
}

/**
 * The HTTP protocol server: `start(dispatcher)` listens, `stop()` stops accepting, ends
 * long-polls, lets replies finish and closes every socket. Closing the dispatcher is the
 * hub's job, not this adapter's.
 */
export class HttpServerAdapter implements ServerAdapter {
  /** Always `http`. */
  readonly protocol = 'http';
  private readonly port: number;
  private readonly host: string;
  private readonly graceMs: number;
  private server: Server | undefined;
  private shutdown: AbortController | undefined;
  private bound: HttpServerAddress | undefined;

  /** Validates the options; nothing listens until {@link HttpServerAdapter.start}. */
  constructor(private readonly options: HttpServerOptions = {}) {
    this.port = options.port ?? DEFAULT_HTTP_PORT;
    this.host = options.host ?? DEFAULT_HTTP_HOST;
    this.graceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    if (!Number.isInteger(this.port) || this.port < 0 || this.port > 65_535) {
      throw new ConfigError(`port must be an integer from 0 to 65535, got ${options.port}`);
    }
    if (typeof this.host !== 'string' || this.host === '') {
      throw new ConfigError('host must be a non-empty string');
    }
    if (!Number.isFinite(this.graceMs) || this.graceMs < 0) {
      throw new ConfigError(`shutdownGraceMs must be a number >= 0, got ${options.shutdownGraceMs}`);
    }
  }

  /** Listens on the configured host and port. Rejects with a `ConfigError` if it cannot. */
  async start(dispatcher: Dispatcher): Promise<void> {
    if (this.server) throw new ConflictError('the HTTP server is already started');
    const shutdown = new AbortController();
    const { port: _port, host: _host, shutdownGraceMs: _grace, ...appOptions } = this.options;
    const app = createHttpApp(dispatcher, { ...appOptions, signal: shutdown.signal });
    const server = createServer(expressServerOptions(app), httpRequestListener(app));
    server.on('clientError', answerClientError);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error & { code?: string }) => {
        reject(
          new ConfigError(`cannot listen on ${this.host}:${this.port}: ${error.message}`, {
            cause: error,
            details: { host: this.host, port: this.port, code: error.code },
          }),
        );
      };
      server.once('error', onError);
      server.listen({ port: this.port, host: this.host }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const { address, port } = server.address() as AddressInfo;
    const hostPart = address.includes(':') ? `[${address}]` : address;
    this.bound = { host: address, port, url: `http://${hostPart}:${port}` };
    this.server = server;
    this.shutdown = shutdown;
  }

  /**
   * Stops accepting connections, ends in-flight long-polls (they reply at once), closes idle
   * keep-alive sockets, and destroys whatever is still open after `shutdownGraceMs`.
   * Resolves once the server is fully closed. Safe to call twice.
   */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.bound = undefined;
    this.shutdown?.abort();
    await closeHttpServer(server, this.graceMs);
  }

  /** Where the server listens. Throws if it is not started. */
  address(): HttpServerAddress {
    if (!this.bound) throw new InternalError('the HTTP server is not started');
    return { ...this.bound };
  }
}
