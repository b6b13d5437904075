/**
 * {@link WsServerAdapter}: the WebSocket protocol server. Each socket's frames are decoded,
 * handed to the core dispatcher and the replies encoded — nothing else; a per-socket
 * {@link PushSession} pushes tasks to the agents that granted credits.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  type CallContext,
  ConfigError,
  ConflictError,
  type Dispatcher,
  errorFromJSON,
  fromUnknown,
  InternalError,
  LazyCallContext,
  type McpmasError,
  PushSession,
  RateLimitedError,
  type ServerAdapter,
  ValidationError,
} from '@mcpmas/core';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { FrameError, type FrameId, parseClientFrame, type ServerFrame, WS_PROTOCOL } from './frames.js';

/** Default listening address: loopback only, so nothing is exposed by accident. */
export const DEFAULT_WS_HOST = '127.0.0.1';
/** Default listening port of a standalone server. */
export const DEFAULT_WS_PORT = 8081;
/** Default path when attached to an existing HTTP server. */
export const DEFAULT_WS_PATH = '/ws';
/** Default largest frame the hub reads (4 MiB): above the core's 1 MiB payload limit plus framing. */
export const DEFAULT_WS_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;
/** Default ping interval. */
export const DEFAULT_WS_PING_INTERVAL_MS = 30_000;
/** Default send buffer above which a socket counts as congested (1 MiB). */
export const DEFAULT_WS_MAX_BUFFERED_BYTES = 1024 * 1024;
/** Default most calls one socket may have in flight. */
export const DEFAULT_WS_MAX_CALLS_IN_FLIGHT = 1000;

/** How often a congested socket's send buffer is checked for having drained. */
const DRAIN_POLL_MS = 20;

/** Options of {@link WsServerAdapter}. */
export interface WsServerOptions {
  /** TCP port of a standalone server; `0` picks a free one (see `address()`). Ignored with `server`. @default 8081 */
  port?: number;
  /** Interface of a standalone server. Ignored with `server`. @default '127.0.0.1' */
  host?: string;
  /**
   * Attach to this HTTP server's `upgrade` event instead of listening on a port of its own;
   * upgrades for other paths are left to other listeners.
   */
  server?: Server;
  /**
   * Upgrade path. With `server` it defaults to `/ws`; a standalone server accepts any path
   * unless one is given.
   */
  path?: string;
  /** Largest frame read; a larger one closes the socket with 1009. @default 4194304 */
  maxPayloadBytes?: number;
  /** Ping interval; a socket that misses a pong by the next ping is terminated. @default 30000 */
  pingIntervalMs?: number;
  /**
   * Send buffer above which a socket is congested: the hub stops leasing and pushing tasks to
   * it and stops reading its frames until the buffer drains below this again. @default 1048576
   */
  maxBufferedBytes?: number;
  /** Most calls one socket may have in flight; more are refused with `RATE_LIMITED`. @default 1000 */
  maxCallsInFlight?: number;
  /** Long-poll wait of one push lease. @default 20000 */
  pushWaitMs?: number;
  /** On stop, how long sockets get to complete the closing handshake. @default 1000 */
  shutdownGraceMs?: number;
}

/** Where a standalone server listens. */
export interface WsServerAddress {
  host: string;
  port: number;
  /** URL for clients, e.g. `ws://127.0.0.1:8081/ws`. */
  url: string;
}

/** Counters of a running server. */
export interface WsServerStats {
  connections: number;
  /** Bytes queued in send buffers over all sockets. */
  bufferedBytes: number;
  /** Sockets currently congested (leasing and reading paused). */
  congested: number;
  callsInFlight: number;
  /** Tasks pushed and not yet terminal. */
  pushedInFlight: number;
}

function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min)
    throw new ConfigError(`${name} must be an integer >= ${min}, got ${value}`);
  return v;
}

/** The API key from `Authorization: Bearer`, `x-api-key`, or (for browsers) `?api_key=`. */
export function credentialsOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (match) return match[1]!.trim();
  }
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') return header;
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams.get('api_key');
  return query || undefined;
}

/**
 * The WebSocket protocol server. Standalone (`port`, `host`) or attached to an existing HTTP
 * server (`server`, `path`). `stop()` ends pushes and waits, closes every socket with 1001 and
 * frees the port; closing the dispatcher is the hub's job.
 */
export class WsServerAdapter implements ServerAdapter {
  /** Always `ws`. */
  readonly protocol = 'ws';
  private readonly port: number;
  private readonly host: string;
  private readonly path: string | undefined;
  private readonly maxPayloadBytes: number;
  private readonly pingIntervalMs: number;
  private readonly maxBufferedBytes: number;
  private readonly maxCallsInFlight: number;
  private readonly graceMs: number;
  private wss: WebSocketServer | undefined;
  private ownServer: Server | undefined;
  private upgradeListener: ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly connections = new Set<Connection>();
  private bound: WsServerAddress | undefined;

  /** Validates the options; nothing listens until {@link WsServerAdapter.start}. */
  constructor(private readonly options: WsServerOptions = {}) {
    this.port = positiveInt('port', options.port, DEFAULT_WS_PORT, 0);
    if (this.port > 65_535) throw new ConfigError(`port must be at most 65535, got ${options.port}`);
    this.host = options.host ?? DEFAULT_WS_HOST;
    this.path = options.path ?? (options.server ? DEFAULT_WS_PATH : undefined);
    if (this.path !== undefined && !this.path.startsWith('/'))
      throw new ConfigError(`path must start with "/", got ${options.path}`);
    this.maxPayloadBytes = positiveInt(
      'maxPayloadBytes',
      options.maxPayloadBytes,
      DEFAULT_WS_MAX_PAYLOAD_BYTES,
    );
    this.pingIntervalMs = positiveInt('pingIntervalMs', options.pingIntervalMs, DEFAULT_WS_PING_INTERVAL_MS);
    this.maxBufferedBytes = positiveInt(
      'maxBufferedBytes',
      options.maxBufferedBytes,
      DEFAULT_WS_MAX_BUFFERED_BYTES,
    );
    this.maxCallsInFlight = positiveInt(
      'maxCallsInFlight',
      options.maxCallsInFlight,
      DEFAULT_WS_MAX_CALLS_IN_FLIGHT,
    );
    this.graceMs = positiveInt('shutdownGraceMs', options.shutdownGraceMs, 1000, 0);
    if (options.pushWaitMs !== undefined) positiveInt('pushWaitMs', options.pushWaitMs, 1);
  }

  /** Starts accepting WebSocket upgrades. Rejects with a `ConfigError` if it cannot listen. */
  async start(dispatcher: Dispatcher): Promise<void> {
    if (this.wss) throw new ConflictError('the WebSocket server is already started');
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.maxPayloadBytes });
    const attached = this.options.server;
    const server =
      attached ??
      createServer((_req, res) => {
        const body = JSON.stringify({
          error: new ValidationError('this endpoint speaks WebSocket only; send an upgrade request').toJSON(),
        });
        res.writeHead(426, {
          'content-type': 'application/json',
          upgrade: 'websocket',
          connection: 'Upgrade',
        });
        res.end(body);
      });
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (this.path !== undefined && pathname !== this.path) {
        // Another listener of a shared server may own this path; a server of our own says 404.
        if (!attached) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, dispatcher));
    };
    server.on('upgrade', onUpgrade);
    if (!attached) {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error & { code?: string }) =>
          reject(
            new ConfigError(`cannot listen on ${this.host}:${this.port}: ${error.message}`, {
              cause: error,
              details: { host: this.host, port: this.port, code: error.code },
            }),
          );
        server.once('error', onError);
        server.listen({ port: this.port, host: this.host }, () => {
          server.off('error', onError);
          resolve();
        });
      });
      const { address, port } = server.address() as AddressInfo;
      const hostPart = address.includes(':') ? `[${address}]` : address;
      this.bound = { host: address, port, url: `ws://${hostPart}:${port}${this.path ?? '/'}` };
      this.ownServer = server;
    }
    this.upgradeListener = onUpgrade;
    this.wss = wss;
    this.pingTimer = setInterval(() => {
      for (const connection of this.connections) connection.ping();
    }, this.pingIntervalMs);
    this.pingTimer.unref();
  }

  /** Closes every socket (1001), ends pushes and long-polls, and frees the port. Safe to call twice. */
  async stop(): Promise<void> {
    const wss = this.wss;
    if (!wss) return;
    this.wss = undefined;
    this.bound = undefined;
    clearInterval(this.pingTimer);
    const server = this.ownServer ?? this.options.server;
    if (server && this.upgradeListener) server.off('upgrade', this.upgradeListener);
    const closing = [...this.connections].map((c) => c.shutdown(this.graceMs));
    await Promise.all(closing);
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    const own = this.ownServer;
    this.ownServer = undefined;
    if (own) {
      await new Promise<void>((resolve) => {
        own.close(() => resolve());
        own.closeAllConnections();
      });
    }
  }

  /** Where a standalone server listens. Throws if it is not started or is attached. */
  address(): WsServerAddress {
    if (!this.bound)
      throw new InternalError('the WebSocket server is not started (or is attached to a server)');
    return { ...this.bound };
  }

  /** Live counters, e.g. for metrics. */
  stats(): WsServerStats {
    const out: WsServerStats = {
      connections: 0,
      bufferedBytes: 0,
      congested: 0,
      callsInFlight: 0,
      pushedInFlight: 0,
    };
    for (const c of this.connections) {
      out.connections += 1;
      out.bufferedBytes += c.socket.bufferedAmount;
      if (c.congested) out.congested += 1;
      out.callsInFlight += c.callsInFlight;
      out.pushedInFlight += c.pushedInFlight;
    }
    return out;
  }

  private accept(socket: WebSocket, req: IncomingMessage, dispatcher: Dispatcher): void {
    const credentials = credentialsOf(req);
    const context: Omit<CallContext, 'signal'> = { protocol: 'ws' };
    if (credentials) context.credentials = credentials;
    if (req.socket.remoteAddress) context.remoteAddress = req.socket.remoteAddress;
    const connection = new Connection(socket, dispatcher, context, {
      maxBufferedBytes: this.maxBufferedBytes,
      maxCallsInFlight: this.maxCallsInFlight,
      ...(this.options.pushWaitMs !== undefined ? { pushWaitMs: this.options.pushWaitMs } : {}),
    });
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
    connection.send({
      type: 'hello',
      protocol: WS_PROTOCOL,
      maxPayloadBytes: this.maxPayloadBytes,
      pingIntervalMs: this.pingIntervalMs,
    });
  }
}

interface ConnectionLimits {
  maxBufferedBytes: number;
  maxCallsInFlight: number;
  pushWaitMs?: number;
}

/** One socket: its calls in flight, its push session and its backpressure state. */
class Connection {
  private readonly calls = new Map<FrameId, LazyCallContext>();
  private readonly session: PushSession;
  private alive = true;
  private drainTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private corked = false;

  constructor(
    readonly socket: WebSocket,
    private readonly dispatcher: Dispatcher,
    private readonly context: Omit<CallContext, 'signal'>,
    private readonly limits: ConnectionLimits,
  ) {
    this.session = new PushSession({
      dispatcher,
      context,
      send: (message, agentId) => {
        if (message.type === 'task') this.send({ type: 'task', agentId, task: message.task });
        else if (message.type === 'cancel') {
          this.send({
            type: 'cancel',
            agentId,
            taskId: message.taskId,
            ...(message.reason ? { reason: message.reason } : {}),
          });
        }
      },
      writable: () => !this.congested,
      onError: (error, agentId) => this.sendError(withAgent(error, agentId)),
      ...(limits.pushWaitMs !== undefined ? { waitMs: limits.pushWaitMs } : {}),
    });
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    // A socket error (bad frame, 1009, reset) is followed by 'close'; nothing to do but not crash.
    socket.on('error', () => undefined);
    socket.once('close', () => this.onClose());
  }

  get congested(): boolean {
    return this.socket.bufferedAmount > this.limits.maxBufferedBytes;
  }

  get callsInFlight(): number {
    return this.calls.size;
  }

  get pushedInFlight(): number {
    return this.session.inFlight;
  }

  /** Liveness: terminate if the last ping went unanswered, else ping again. */
  ping(): void {
    if (!this.alive) {
      this.socket.terminate();
      return;
    }
    this.alive = false;
    if (this.socket.readyState === WebSocket.OPEN) this.socket.ping();
  }

  /** Sends one frame (dropped once the socket is closing) and applies backpressure. */
  send(frame: ServerFrame): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.corkUntilNextTick();
    this.socket.send(JSON.stringify(frame));
    if (this.congested) this.holdUntilDrained();
  }

  /**
   * Frames sent in the same tick (replies and pushes under load) leave in one write instead
   * of one syscall each: the TCP socket is corked until the next tick. `ws` corks and uncorks
   * around every frame; corks nest, so its frames are held until ours is released.
   */
  private corkUntilNextTick(): void {
    if (this.corked) return;
    const tcp = (this.socket as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (!tcp) return;
    this.corked = true;
    tcp.cork();
    process.nextTick(() => {
      this.corked = false;
      tcp.uncork();
    });
  }

  /** Ends pushes and calls, closes with 1001, and terminates after `graceMs`. */
  shutdown(graceMs: number): Promise<void> {
    this.onClose();
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.socket.terminate(), graceMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.close(1001, 'hub shutting down');
    });
  }

  /**
   * While the send buffer is over the limit: stop reading frames (no new replies pile up) and
   * let the push session pause leasing; resume both once the buffer drains. ws has no drain
   * event of its own, so the buffer is checked on a short timer, and only while congested.
   */
  private holdUntilDrained(): void {
    if (this.drainTimer || this.closed) return;
    this.socket.pause();
    this.drainTimer = setInterval(() => {
      if (this.congested && !this.closed) return;
      clearInterval(this.drainTimer);
      this.drainTimer = undefined;
      if (this.closed) return;
      this.socket.resume();
      this.session.drained();
    }, DRAIN_POLL_MS);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    this.alive = true;
    if (isBinary) {
      this.sendError(new ValidationError('binary frames are not supported; send JSON text frames'));
      return;
    }
    let frame: ReturnType<typeof parseClientFrame>;
    try {
      frame = parseClientFrame(rawText(data));
    } catch (error) {
      const err = fromUnknown(error);
      const id = error instanceof FrameError ? error.id : undefined;
      this.sendError(err, id);
      return;
    }
    switch (frame.type) {
      case 'call':
        this.call(frame.id, frame.op, frame.req, frame.traceparent);
        return;
      case 'abort':
        this.calls.get(frame.id)?.abort();
        return;
      case 'credits':
        this.session.grant(
          frame.agentId,
          frame.credits,
          frame.capabilities ? { capabilities: frame.capabilities } : {},
        );
        return;
    }
  }

  private call(id: FrameId, op: string, req: unknown, traceparent: string | undefined): void {
    if (this.calls.has(id)) {
      this.reply(
        id,
        new ValidationError(`request id ${JSON.stringify(id)} is already in flight on this socket`),
      );
      return;
    }
    if (this.calls.size >= this.limits.maxCallsInFlight) {
      this.reply(
        id,
        new RateLimitedError(`more than ${this.limits.maxCallsInFlight} calls in flight on this socket`, {
          details: { limit: this.limits.maxCallsInFlight },
        }),
      );
      return;
    }
    // The signal is made only if the call reads it (a long-poll); abort frames and closing still reach it.
    const context = new LazyCallContext(this.context.protocol);
    const base = this.context;
    if (base.credentials !== undefined) context.credentials = base.credentials;
    if (base.remoteAddress !== undefined) context.remoteAddress = base.remoteAddress;
    context.requestId = String(id);
    if (traceparent) context.traceparent = traceparent;
    this.calls.set(id, context);
    this.dispatcher.dispatch(op, req, context).then(
      (res) => {
        this.calls.delete(id);
        if (op === 'agent.unregister' && res && typeof res === 'object') {
          const agentId = (res as { agentId?: unknown }).agentId;
          if (typeof agentId === 'string') this.session.forget(agentId);
        }
        this.send({ type: 'reply', id, ok: true, res });
      },
      (error: unknown) => {
        this.calls.delete(id);
        this.reply(id, fromUnknown(error));
      },
    );
  }

  private reply(id: FrameId, error: McpmasError): void {
    this.send({ type: 'reply', id, ok: false, error: error.toJSON() });
  }

  private sendError(error: McpmasError, id?: FrameId): void {
    this.send({ type: 'error', ...(id !== undefined ? { id } : {}), error: error.toJSON() });
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.drainTimer);
    this.drainTimer = undefined;
    this.session.close();
    for (const context of this.calls.values()) context.abort();
    this.calls.clear();
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/** Adds the agent a push failure concerns to the error's details. */
function withAgent(error: McpmasError, agentId: string): McpmasError {
  const json = error.toJSON();
  return errorFromJSON({ ...json, details: { ...json.details, agentId } });
}
