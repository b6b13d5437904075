/**
 * {@link WsTransport}: the WebSocket client face of the adapter. One socket carries calls,
 * credits and pushes; it reconnects with backoff, replays the agents' registrations and
 * re-grants their unused credits, so a hub restart is invisible to the agent runtime.
 */
import {
  type AgentCommInterface,
  type BackoffOptions,
  backoffDelay,
  ConfigError,
  errorFromJSON,
  HubClient,
  type InboundMessage,
  InternalError,
  type OperationName,
  PayloadTooLargeError,
  TimeoutError,
  type TransportFeatures,
  UnavailableError,
} from '@mcpmas/core';
import { type RawData, WebSocket } from 'ws';
import {
  type CallFrame,
  type ClientFrame,
  type FrameId,
  MAX_CREDITS_PER_FRAME,
  type ServerFrame,
} from './frames.js';
import { DEFAULT_WS_MAX_PAYLOAD_BYTES } from './server.js';

/** Default time one call may take, long-poll waits excepted. */
export const DEFAULT_WS_REQUEST_TIMEOUT_MS = 30_000;
/** Default reconnect backoff: 100 ms doubling to 5 s with 20 % jitter. */
export const DEFAULT_WS_RECONNECT: BackoffOptions = { baseMs: 100, maxMs: 5000, jitter: 0.2 };

/** Options of {@link WsTransport}. */
export interface WsTransportOptions {
  /** The hub's WebSocket URL, e.g. `ws://127.0.0.1:8080/ws`. */
  url: string | URL;
  /** Sent on the upgrade request as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Reconnect backoff, or `false` to stay disconnected after a drop. @default 100 ms doubling to 5 s */
  reconnect?: Partial<BackoffOptions> | false;
  /**
   * Longest time one call may take, including waiting for a connection. A long-poll
   * (`task.next`, `task.get` with `waitMs`) gets its `waitMs` on top. @default 30000
   */
  requestTimeoutMs?: number;
  /** Longest time the opening handshake may take. @default 10000 */
  connectTimeoutMs?: number;
  /** Extra headers sent on the upgrade request. */
  headers?: Record<string, string>;
  /** Called with failures not tied to a call (a refused credit grant, a failed replay). */
  onError?: (error: Error) => void;
}

interface Pending {
  op: OperationName;
  content: unknown;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

type Handler = (message: InboundMessage) => void | Promise<void>;

/**
 * `AgentCommInterface` over one WebSocket. `sendMessage(op, request)` sends a `call` frame and
 * resolves with the reply; failed calls reject with the hub's error rebuilt as the matching
 * `McpmasError`. Calls in flight when the socket drops reject with a retryable
 * `UnavailableError`; calls made while reconnecting wait for the connection (within their
 * timeout). Push: `receiveMessage` gets `task` and `cancel` messages for the agents that
 * granted credits with `grantCredits`.
 */
export class WsTransport implements AgentCommInterface {
  /** Always `ws`. */
  readonly protocol = 'ws';
  /** The hub pushes tasks over the socket. */
  readonly features: TransportFeatures = { push: true };
  private readonly url: string;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly backoff: BackoffOptions | false;
  private readonly headers: Record<string, string>;
  private socket: WebSocket | undefined;
  private ready = false;
  private started = false;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  private lastHeard = 0;
  private serverPingMs = 0;
  private maxFrameBytes = DEFAULT_WS_MAX_PAYLOAD_BYTES;
  private seq = 0;
  private readonly pending = new Map<FrameId, Pending>();
  private readyWaiters = new Set<() => void>();
  private firstAttempt: (() => void) | undefined;
  private handler: Handler | undefined;
  /** Last successful registration per agent, replayed after a reconnect. */
  private readonly registrations = new Map<string, Record<string, unknown>>();
  /** Credits granted and not yet used, per agent; granted again after a reconnect. */
  private readonly credits = new Map<string, number>();
  /** Grants of this tick not sent yet, per agent (see `grantCredits`). */
  private readonly unsentGrants = new Map<string, number>();
  private grantsScheduled = false;

  /** Validates the options; nothing connects until {@link WsTransport.start}. */
  constructor(private readonly options: WsTransportOptions) {
    let url: URL;
    try {
      url = new URL(String(options.url));
    } catch (error) {
      throw new ConfigError(`url is not a valid URL: ${String(options.url)}`, { cause: error });
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new ConfigError(`url must be a ws: or wss: URL, got ${url.protocol}`);
    }
    this.url = url.toString();
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_WS_REQUEST_TIMEOUT_MS;
    if (!(this.requestTimeoutMs > 0))
      throw new ConfigError(`requestTimeoutMs must be a positive number, got ${options.requestTimeoutMs}`);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    if (!(this.connectTimeoutMs > 0))
      throw new ConfigError(`connectTimeoutMs must be a positive number, got ${options.connectTimeoutMs}`);
    this.backoff = options.reconnect === false ? false : { ...DEFAULT_WS_RECONNECT, ...options.reconnect };
    this.headers = { ...options.headers };
    if (options.apiKey) this.headers.authorization = `Bearer ${options.apiKey}`;
  }

  /** True while the socket is open and registrations have been replayed. */
  get connected(): boolean {
    return this.ready;
  }

  /**
   * Connects. Resolves once the socket is open, or once the first attempt has failed (the
   * transport then keeps reconnecting in the background and calls wait for it).
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await new Promise<void>((resolve) => {
      this.firstAttempt = resolve;
      this.connect();
    });
  }

  /** Closes the socket and rejects everything pending with `UnavailableError`. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.livenessTimer);
    this.firstAttempt?.();
    for (const wake of this.readyWaiters) wake();
    this.readyWaiters.clear();
    const socket = this.socket;
    this.socket = undefined;
    this.ready = false;
    this.failPending(new UnavailableError('the WebSocket transport was stopped'));
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          socket.terminate();
          resolve();
        }, 1000);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
        else socket.close(1000, 'client stopping');
      });
    }
  }

  /** Performs `target` with request `content` and resolves with the hub's reply. */
  async sendMessage(
    target: OperationName,
    content: unknown,
    options: { signal?: AbortSignal } = {},
  ): Promise<unknown> {
    if (!this.started) throw new InternalError('transport not started; call start() first');
    if (options.signal?.aborted) throw new TimeoutError(`${target} aborted by the caller before it was sent`);
    const waitMs = (content as { waitMs?: unknown } | null | undefined)?.waitMs;
    const timeoutMs = this.requestTimeoutMs + (typeof waitMs === 'number' && waitMs > 0 ? waitMs : 0);
    const deadline = Date.now() + timeoutMs;
    await this.whenReady(deadline, target, options.signal);
    return this.call(target, content, deadline, options.signal);
  }

  /** Registers the handler for pushed `task` and `cancel` messages. */
  receiveMessage(handler: (message: InboundMessage) => void | Promise<void>): void {
    this.handler = handler;
  }

  /**
   * Lets the hub push up to `credits` more tasks to `agentId` over this socket. The unused
   * balance is kept here and granted again after a reconnect.
   */
  grantCredits(agentId: string, credits: number): void {
    if (!(credits > 0)) return;
    const granted = Math.floor(credits);
    this.credits.set(agentId, (this.credits.get(agentId) ?? 0) + granted);
    if (!this.ready) return;
    // An agent finishing several tasks in one tick (replies arrive together) grants one credit
    // per task: those leave as one frame at the end of the tick instead of one frame each.
    this.unsentGrants.set(agentId, (this.unsentGrants.get(agentId) ?? 0) + granted);
    if (!this.grantsScheduled) {
      this.grantsScheduled = true;
      process.nextTick(() => this.sendGrants());
    }
  }

  // -------------------------------------------------------------------------------------

  private sendGrants(): void {
    this.grantsScheduled = false;
    const grants = [...this.unsentGrants];
    this.unsentGrants.clear();
    // Not connected: the reconnect grants the whole unused balance again anyway.
    if (!this.ready) return;
    for (const [agentId, total] of grants) {
      for (let left = total; left > 0; left -= MAX_CREDITS_PER_FRAME) {
        this.sendFrame({ type: 'credits', agentId, credits: Math.min(left, MAX_CREDITS_PER_FRAME) });
      }
    }
  }

  private connect(): void {
    if (!this.started) return;
    const socket = new WebSocket(this.url, {
      headers: this.headers,
      handshakeTimeout: this.connectTimeoutMs,
      maxPayload: 0,
    });
    this.socket = socket;
    socket.on('open', () => {
      this.attempts = 0;
      this.lastHeard = Date.now();
      void this.resume(socket);
    });
    socket.on('message', (data, isBinary) => {
      if (socket === this.socket) this.onMessage(data, isBinary);
    });
    socket.on('ping', () => {
      this.lastHeard = Date.now();
    });
    socket.on('error', () => undefined);
    socket.once('close', (code, reason) => this.onClose(socket, code, reason.toString()));
  }

  /** After a (re)connect: replay registrations, re-grant unused credits, then let calls through. */
  private async resume(socket: WebSocket): Promise<void> {
    const deadline = Date.now() + this.requestTimeoutMs;
    for (const [agentId, request] of [...this.registrations]) {
      try {
        await this.call('agent.register', { ...request, agentId }, deadline);
      } catch (error) {
        if (socket !== this.socket) return;
        this.options.onError?.(error as Error);
      }
    }
    if (socket !== this.socket || socket.readyState !== WebSocket.OPEN) return;
    for (const [agentId, credits] of this.credits) {
      if (credits > 0) this.sendFrame({ type: 'credits', agentId, credits });
    }
    this.ready = true;
    this.firstAttempt?.();
    this.firstAttempt = undefined;
    for (const wake of this.readyWaiters) wake();
    this.readyWaiters.clear();
  }

  private onClose(socket: WebSocket, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    this.ready = false;
    clearInterval(this.livenessTimer);
    this.livenessTimer = undefined;
    this.failPending(
      new UnavailableError(`the WebSocket to the hub closed (${code}${reason ? `: ${reason}` : ''})`, {
        details: { code, url: this.url },
      }),
    );
    this.firstAttempt?.();
    this.firstAttempt = undefined;
    if (!this.started || this.backoff === false) return;
    this.attempts += 1;
    this.reconnectTimer = setTimeout(() => this.connect(), backoffDelay(this.attempts, this.backoff));
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    this.lastHeard = Date.now();
    if (isBinary) return;
    let frame: ServerFrame;
    try {
      frame = JSON.parse(
        Array.isArray(data) ? Buffer.concat(data).toString() : data.toString(),
      ) as ServerFrame;
    } catch {
      this.options.onError?.(new InternalError('the hub sent a frame that is not JSON'));
      return;
    }
    switch (frame.type) {
      case 'hello':
        this.maxFrameBytes = frame.maxPayloadBytes;
        this.serverPingMs = frame.pingIntervalMs;
        this.watchLiveness();
        return;
      case 'reply': {
        const pending = this.pending.get(frame.id);
        if (!pending) return;
        this.pending.delete(frame.id);
        if (frame.ok) {
          this.remember(pending, frame.res);
          pending.resolve(frame.res);
        } else pending.reject(errorFromJSON(frame.error));
        return;
      }
      case 'task': {
        const left = (this.credits.get(frame.agentId) ?? 0) - 1;
        if (left > 0) this.credits.set(frame.agentId, left);
        else this.credits.delete(frame.agentId);
        this.deliver({ type: 'task', task: frame.task });
        return;
      }
      case 'cancel':
        this.deliver({
          type: 'cancel',
          taskId: frame.taskId,
          ...(frame.reason ? { reason: frame.reason } : {}),
        });
        return;
      case 'error': {
        const error = errorFromJSON(frame.error);
        const pending = frame.id !== undefined ? this.pending.get(frame.id) : undefined;
        if (pending && frame.id !== undefined) {
          this.pending.delete(frame.id);
          pending.reject(error);
        } else this.options.onError?.(error);
        return;
      }
    }
  }

  /** Keeps what a reconnect must replay: registrations (and forgets unregistered agents). */
  private remember(pending: Pending, res: unknown): void {
    if (pending.op === 'agent.register') {
      const agentId = (res as { agentId?: unknown } | null)?.agentId;
      if (typeof agentId === 'string') {
        this.registrations.set(agentId, { ...(pending.content as Record<string, unknown>), agentId });
      }
    } else if (pending.op === 'agent.unregister') {
      const agentId = (pending.content as { agentId?: unknown } | null)?.agentId;
      if (typeof agentId === 'string') {
        this.registrations.delete(agentId);
        this.credits.delete(agentId);
      }
    }
  }

  private deliver(message: InboundMessage): void {
    const handler = this.handler;
    if (!handler) return;
    try {
      const out = handler(message);
      if (out && typeof (out as Promise<void>).catch === 'function') {
        (out as Promise<void>).catch((error: unknown) => this.options.onError?.(error as Error));
      }
    } catch (error) {
      this.options.onError?.(error as Error);
    }
  }

  /** The hub pings every `pingIntervalMs`; a silence of 2.5 intervals means the link is dead. */
  private watchLiveness(): void {
    clearInterval(this.livenessTimer);
    if (!(this.serverPingMs > 0)) return;
    const limit = this.serverPingMs * 2.5;
    this.livenessTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > limit) this.socket?.terminate();
    }, this.serverPingMs);
    this.livenessTimer.unref();
  }

  private whenReady(deadline: number, target: string, signal: AbortSignal | undefined): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.readyWaiters.delete(wake);
        if (error) reject(error);
        else resolve();
      };
      const wake = () =>
        finish(this.started ? undefined : new UnavailableError('the WebSocket transport was stopped'));
      const onAbort = () => finish(new TimeoutError(`${target} aborted by the caller`, { retryable: false }));
      const timer = setTimeout(
        () =>
          finish(
            new UnavailableError(`not connected to the hub at ${this.url}`, { details: { url: this.url } }),
          ),
        Math.max(0, deadline - Date.now()),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.readyWaiters.add(wake);
    });
  }

  private call(
    op: OperationName,
    content: unknown,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new UnavailableError(`not connected to the hub at ${this.url}`));
    }
    const id = ++this.seq;
    const frame: CallFrame = { type: 'call', id, op, req: content };
    const text = JSON.stringify(frame);
    const size = Buffer.byteLength(text);
    if (size > this.maxFrameBytes) {
      return Promise.reject(
        new PayloadTooLargeError(
          `the ${op} frame is ${size} bytes; the hub reads at most ${this.maxFrameBytes}`,
          {
            details: { size, limit: this.maxFrameBytes },
          },
        ),
      );
    }
    return new Promise<unknown>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const giveUp = (error: Error) => {
        if (!this.pending.delete(id)) return;
        cleanup();
        if (this.socket === socket) this.sendFrame({ type: 'abort', id });
        reject(error);
      };
      const onAbort = () => giveUp(new TimeoutError(`${op} aborted by the caller`, { retryable: false }));
      const timer = setTimeout(
        () => giveUp(new TimeoutError(`no reply to ${op} within the request timeout`)),
        Math.max(0, deadline - Date.now()),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        op,
        content,
        resolve: (value) => {
          cleanup();
          resolve(value);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      });
      socket.send(text);
    });
  }

  private sendFrame(frame: ClientFrame): void {
    const socket = this.socket;
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  private failPending(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
  }
}

/**
 * A typed {@link HubClient} over a started {@link WsTransport}. Call `client.transport.stop()`
 * when done.
 *
 * @example
 * const hub = await createWsClient({ url: 'ws://127.0.0.1:8080/ws', apiKey: process.env.MCPMAS_API_KEY });
 * const { task } = await hub.submit({ capability: 'echo', payload: 'hi' });
 */
export async function createWsClient(options: WsTransportOptions): Promise<HubClient> {
  const transport = new WsTransport(options);
  await transport.start();
  return new HubClient(transport);
}
