/**
 * {@link HubHttpServer}: the hub's one HTTP server. It serves the REST API of
 * `@mcpmas/adapter-http` (`createHttpApp`), the MCP endpoint mounted on that app, and — since
 * the node server exists from construction on — a `WsServerAdapter` can attach to its
 * `upgrade` event, so HTTP, MCP and WebSocket share one port.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  answerClientError,
  closeHttpServer,
  createHttpApp,
  expressServerOptions,
  type HttpAppOptions,
  httpRequestListener,
} from '@mcpmas/adapter-http';
import { ConfigError, ConflictError, type Dispatcher, InternalError, type ServerAdapter } from '@mcpmas/core';

/** Options of {@link HubHttpServer}. */
export interface HubHttpServerOptions extends Omit<HttpAppOptions, 'signal'> {
  host: string;
  /** `0` picks a free port. */
  port: number;
  /**
   * Paths whose WebSocket upgrades another listener (a `WsServerAdapter` attached to
   * {@link HubHttpServer.server}) answers; an upgrade to any other path gets a 404.
   */
  upgradePaths?: string[];
  /** On stop, how long replies being written get before every socket is destroyed. @default 2000 */
  shutdownGraceMs?: number;
}

/** Where the server listens. */
export interface HubHttpAddress {
  host: string;
  port: number;
  /** e.g. `http://127.0.0.1:8080` */
  url: string;
}

/**
 * The HTTP protocol server of `mcpmas-hub`. Like `HttpServerAdapter`, but the node server is
 * created up front ({@link HubHttpServer.server}) so that other protocols can share it.
 */
export class HubHttpServer implements ServerAdapter {
  /** Always `http`. */
  readonly protocol = 'http';
  /** The node HTTP server; it listens once {@link HubHttpServer.start} runs. */
  readonly server: Server;
  /**
   * The express app, made up front so the server's requests and responses are born with its
   * prototypes (`expressServerOptions`); it reaches the dispatcher given to `start`.
   */
  private readonly app: ReturnType<typeof createHttpApp>;
  private readonly stopping = new AbortController();
  private dispatcher: Dispatcher | undefined;
  private shutdown: AbortController | undefined;
  private bound: HubHttpAddress | undefined;

  /** Nothing listens until {@link HubHttpServer.start}. */
  constructor(private readonly options: HubHttpServerOptions) {
    const {
      host: _host,
      port: _port,
      upgradePaths: _paths,
      shutdownGraceMs: _grace,
      ...appOptions
    } = options;
    const started = (): Dispatcher => {
      if (!this.dispatcher) throw new InternalError('the HTTP server is not started');
      return this.dispatcher;
    };
    this.app = createHttpApp(
      {
        dispatch: (operation, request, context) => started().dispatch(operation, request, context),
        subscribe: (listener) => started().subscribe(listener),
        close: () => started().close(),
      },
      { ...appOptions, signal: this.stopping.signal },
    );
    this.server = createServer(expressServerOptions(this.app));
  }

  /** Listens on the configured host and port. Rejects with a `ConfigError` if it cannot. */
  async start(dispatcher: Dispatcher): Promise<void> {
    if (this.shutdown) throw new ConflictError('the HTTP server is already started');
    const shutdown = this.stopping;
    const { host, port, upgradePaths = [] } = this.options;
    const server = this.server;
    this.dispatcher = dispatcher;
    server.on('request', httpRequestListener(this.app));
    server.on('clientError', answerClientError);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (upgradePaths.includes(pathname)) return;
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error & { code?: string }) => {
        reject(
          new ConfigError(`cannot listen on ${host}:${port}: ${error.message}`, {
            cause: error,
            details: { host, port, code: error.code },
          }),
        );
      };
      server.once('error', onError);
      server.listen({ port, host }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const { address, port: boundPort } = server.address() as AddressInfo;
    const hostPart = address.includes(':') ? `[${address}]` : address;
    this.bound = { host: address, port: boundPort, url: `http://${hostPart}:${boundPort}` };
    this.shutdown = shutdown;
  }

  /**
   * Stops accepting connections, ends long-polls (they reply at once), closes idle sockets
   * and destroys whatever is still open after `shutdownGraceMs`. Safe to call twice.
   */
  async stop(): Promise<void> {
    const shutdown = this.shutdown;
    if (!shutdown || !this.server.listening) return;
    this.bound = undefined;
    shutdown.abort();
    await closeHttpServer(this.server, this.options.shutdownGraceMs ?? 2000);
  }

  /** Where the server listens. Throws if it is not started. */
  address(): HubHttpAddress {
    if (!this.bound) throw new InternalError('the HTTP server is not started');
    return { ...this.bound };
  }
}
