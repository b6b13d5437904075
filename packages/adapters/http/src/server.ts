/**
 * {@link HttpServerAdapter}: runs the express app of {@link createHttpApp} on a node HTTP
 * server, with a graceful stop.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, ConflictError, type Dispatcher, InternalError, type ServerAdapter } from '@mcpmas/core';
import { createHttpApp, type HttpAppOptions } from './app.js';
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
    const server = createServer(createHttpApp(dispatcher, { ...appOptions, signal: shutdown.signal }));
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
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.closeAllConnections(), this.graceMs);
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
    });
  }

  /** Where the server listens. Throws if it is not started. */
  address(): HttpServerAddress {
    if (!this.bound) throw new InternalError('the HTTP server is not started');
    return { ...this.bound };
  }
}
