/**
 * {@link GrpcTransport}: the gRPC client face of the adapter. Pushes arrive on one
 * `StreamMessages` channel that is opened when credits are first granted and reopened with
 * backoff (after replaying the agents' registrations and re-granting their unused credits)
 * whenever it breaks, so a hub restart is invisible to the agent runtime. While that channel
 * is open, calls travel on it as `Call` frames with ids (an agent's reports and heartbeats
 * then cost no HTTP/2 stream of their own); otherwise each call is its unary RPC.
 */
import {
  type ChannelCredentials,
  Client,
  type ClientDuplexStream,
  type ClientUnaryCall,
  credentials as grpcCredentials,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  type AgentCommInterface,
  type BackoffOptions,
  backoffDelay,
  ConfigError,
  ErrorCode,
  errorFromJSON,
  HubClient,
  type InboundMessage,
  InternalError,
  isOperationName,
  NotFoundError,
  type OperationName,
  operations,
  TimeoutError,
  type TransportFeatures,
  UnavailableError,
  validationFromIssues,
} from '@mcpmas/core';
import { CODECS, errorFromProto, leasedFromProto } from './codec.js';
import type { ClientMessage, Reply, ServerMessage } from './generated/mcpmas/v1/hub.js';
import { HUB_SERVICE } from './serialize.js';
import { DEFAULT_GRPC_MAX_MESSAGE_BYTES } from './server.js';
import { fromServiceError } from './status.js';

/** Default time one call may take, long-poll waits excepted. */
export const DEFAULT_GRPC_DEADLINE_MS = 30_000;
/** Default backoff for reopening the push channel: 100 ms doubling to 5 s with 20 % jitter. */
export const DEFAULT_GRPC_RECONNECT: BackoffOptions = { baseMs: 100, maxMs: 5000, jitter: 0.2 };

/** TLS for the client: `ca` to trust a private CA; `cert` and `key` for mutual TLS. */
export interface GrpcClientTls {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** Options of {@link GrpcTransport}. */
export interface GrpcTransportOptions {
  /** The hub's address, `host:port`. */
  address: string;
  /** Sent as `authorization: Bearer <apiKey>` metadata. */
  apiKey?: string;
  /** Use TLS (`true` trusts the system roots). */
  tls?: GrpcClientTls | boolean;
  /**
   * Deadline of one call. A long-poll (`task.next`, `task.get` with `waitMs`) gets its
   * `waitMs` on top. @default 30000
   */
  deadlineMs?: number;
  /** Backoff for reopening the push channel, or `false` to not reopen it. @default 100 ms doubling to 5 s */
  reconnect?: Partial<BackoffOptions> | false;
  /** Largest message sent or received. @default 4194304 */
  maxMessageBytes?: number;
  /** Called with failures not tied to a call (a refused credit grant, a broken push channel). */
  onError?: (error: Error) => void;
}

type Json = Record<string, unknown>;

/** The `StreamMessages` channel as the transport opens it: it writes messages it encoded itself. */
type AgentChannel = ClientDuplexStream<Buffer, ServerMessage>;

/** Encodes a `ClientMessage` (the channel is opened with a pass-through serialiser). */
const encodeClientMessage = HUB_SERVICE.streamMessages.requestSerialize as (message: ClientMessage) => Buffer;

/**
 * Largest encoded call sent on the channel; a larger one goes as its own unary RPC. A call
 * over the message limit then fails alone (not the channel, and the pushes with it), and a
 * big payload does not hold up the pushes queued behind it.
 */
const CHANNEL_CALL_MAX_BYTES = 64 * 1024;

/** A call sent on the `StreamMessages` channel, waiting for its `Reply`. */
interface StreamCall {
  op: OperationName;
  stream: AgentChannel;
  resolve(reply: Json): void;
  /** Ends the call with `error`; `abort` also tells the hub to give up on it. */
  fail(error: Error, abort: boolean): void;
}

/**
 * `AgentCommInterface` over gRPC. `sendMessage(op, request)` performs the operation and
 * resolves with the reply: as a `Call` on the `StreamMessages` channel while it is open
 * (calls over 64 KiB excepted), otherwise as the operation's unary RPC. A failed call rejects
 * with the hub's error (rebuilt from the reply's `error`, or the `mcpmas-error-bin` trailer);
 * a call in flight when the channel breaks rejects as a unary call does when its connection
 * drops. Requests are validated against the core schemas before they are encoded, because
 * protobuf cannot carry what the hub would reject (an unknown field, a fractional integer) —
 * the error is the one the hub would have sent. Push: `grantCredits` opens the
 * `StreamMessages` channel; `receiveMessage` gets its `task` and `cancel` messages.
 */
export class GrpcTransport implements AgentCommInterface {
  /** Always `grpc`. */
  readonly protocol = 'grpc';
  /** The hub pushes tasks over the `StreamMessages` channel. */
  readonly features: TransportFeatures = { push: true };
  private readonly deadlineMs: number;
  private readonly backoff: BackoffOptions | false;
  private readonly channelCredentials: ChannelCredentials;
  private readonly maxMessageBytes: number;
  private client: Client | undefined;
  private readonly calls = new Set<ClientUnaryCall>();
  /** Calls in flight on the `StreamMessages` channel, by id. */
  private readonly streamCalls = new Map<number, StreamCall>();
  private nextCallId = 0;
  private stream: AgentChannel | undefined;
  private streamAttempts = 0;
  private reopenTimer: NodeJS.Timeout | undefined;
  private reopening = false;
  private handler: ((message: InboundMessage) => void | Promise<void>) | undefined;
  private readonly registrations = new Map<string, Json>();
  private readonly credits = new Map<string, number>();
  private stopping = false;

  /** Validates the options; nothing connects until {@link GrpcTransport.start}. */
  constructor(private readonly options: GrpcTransportOptions) {
    if (typeof options.address !== 'string' || !/^.+:\d+$/.test(options.address)) {
      throw new ConfigError(`address must be host:port, got ${String(options.address)}`);
    }
    this.deadlineMs = options.deadlineMs ?? DEFAULT_GRPC_DEADLINE_MS;
    if (!(this.deadlineMs > 0))
      throw new ConfigError(`deadlineMs must be a positive number, got ${options.deadlineMs}`);
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_GRPC_MAX_MESSAGE_BYTES;
    this.backoff = options.reconnect === false ? false : { ...DEFAULT_GRPC_RECONNECT, ...options.reconnect };
    const tls = options.tls;
    if (tls) {
      const t = tls === true ? {} : tls;
      if (Boolean(t.cert) !== Boolean(t.key)) throw new ConfigError('tls.cert and tls.key go together');
      this.channelCredentials = grpcCredentials.createSsl(
        t.ca ? Buffer.from(t.ca) : null,
        t.key ? Buffer.from(t.key) : null,
        t.cert ? Buffer.from(t.cert) : null,
      );
    } else this.channelCredentials = grpcCredentials.createInsecure();
  }

  /** Creates the channel (it connects on the first call). */
  async start(): Promise<void> {
    if (this.client) return;
    this.stopping = false;
    this.client = new Client(this.options.address, this.channelCredentials, {
      'grpc.max_receive_message_length': this.maxMessageBytes,
      'grpc.max_send_message_length': this.maxMessageBytes,
    });
    if (this.credits.size > 0) this.openStream();
  }

  /** Ends calls in flight (they reject with `UnavailableError`), the push channel and the channel. */
  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.stopping = true;
    clearTimeout(this.reopenTimer);
    for (const call of this.calls) call.cancel();
    this.calls.clear();
    for (const call of [...this.streamCalls.values()]) {
      call.fail(new UnavailableError(`${call.op} ended: the gRPC transport was stopped`), false);
    }
    this.stream?.cancel();
    this.stream = undefined;
    this.client = undefined;
    client.close();
  }

  /** Performs `target` with request `content` and resolves with the hub's reply. */
  async sendMessage(
    target: OperationName,
    content: unknown,
    options: { signal?: AbortSignal } = {},
  ): Promise<unknown> {
    const client = this.client;
    if (!client) throw new InternalError('transport not started; call start() first');
    if (!isOperationName(target))
      throw new NotFoundError(`unknown operation "${target}"`, { details: { operation: target } });
    const parsed = operations[target].request.safeParse(content ?? {});
    if (!parsed.success) throw validationFromIssues(parsed.error.issues);
    if (options.signal?.aborted) throw new TimeoutError(`${target} aborted by the caller before it was sent`);
    const request = (content ?? {}) as Json;
    const stream = this.stream;
    let reply: Json;
    if (stream) {
      const id = this.nextCallId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextCallId + 1;
      const codec = CODECS[target];
      const frame = encodeClientMessage({ call: { id, [codec.method]: codec.encodeRequest(request) } });
      reply =
        frame.byteLength <= CHANNEL_CALL_MAX_BYTES
          ? await this.streamCall(stream, target, id, frame, request, options.signal)
          : await this.unary(client, target, request, options.signal);
    } else reply = await this.unary(client, target, request, options.signal);
    this.remember(target, content as Json, reply);
    return reply;
  }

  /** Registers the handler for pushed `task` and `cancel` messages. */
  receiveMessage(handler: (message: InboundMessage) => void | Promise<void>): void {
    this.handler = handler;
  }

  /**
   * Lets the hub push up to `credits` more tasks to `agentId` over the `StreamMessages`
   * channel (opened on first use). The unused balance is granted again after a reconnect.
   */
  grantCredits(agentId: string, credits: number): void {
    if (!(credits > 0)) return;
    const n = Math.floor(credits);
    this.credits.set(agentId, (this.credits.get(agentId) ?? 0) + n);
    if (!this.client) return;
    if (this.stream) this.stream.write(encodeClientMessage({ credits: { agentId, credits: n } }));
    else if (!this.reopening) this.openStream();
  }

  // -------------------------------------------------------------------------------------

  /** How long a call may take: the deadline, plus the wait of a long-poll. */
  private budgetOf(content: Json): number {
    const waitMs = content.waitMs;
    return this.deadlineMs + (typeof waitMs === 'number' && waitMs > 0 ? waitMs : 0);
  }

  /**
   * Sends a call on the open `StreamMessages` channel. Its deadline and the caller's signal
   * end it here and send a `CallAbort`, so the hub's wait ends too; the channel breaking
   * fails it with the channel's error.
   */
  private streamCall(
    stream: AgentChannel,
    op: OperationName,
    id: number,
    frame: Buffer,
    content: Json,
    signal?: AbortSignal,
  ): Promise<Json> {
    this.nextCallId = id;
    return new Promise<Json>((resolve, reject) => {
      const settle = () => {
        this.streamCalls.delete(id);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const call: StreamCall = {
        op,
        stream,
        resolve: (reply) => {
          settle();
          resolve(reply);
        },
        fail: (error, abort) => {
          settle();
          if (abort && this.stream === stream && !stream.writableEnded) {
            stream.write(encodeClientMessage({ abort: { id } }));
          }
          reject(error);
        },
      };
      const onAbort = () =>
        call.fail(new TimeoutError(`${op} aborted by the caller`, { retryable: false }), true);
      const timer = setTimeout(
        () => call.fail(new TimeoutError(`gRPC StreamMessages ${op}: deadline exceeded`), true),
        this.budgetOf(content),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.streamCalls.set(id, call);
      stream.write(frame);
    });
  }

  /** The reply to a call on the channel (one that ended here already is ignored). */
  private onReply(reply: Reply): void {
    const call = this.streamCalls.get(reply.id);
    if (!call) return;
    if (reply.error) {
      call.fail(errorFromJSON(errorFromProto(reply.error)), false);
      return;
    }
    const codec = CODECS[call.op];
    const body = (reply as unknown as Record<string, unknown>)[codec.method];
    if (body === undefined) {
      call.fail(new InternalError(`the hub's reply to ${call.op} holds no ${codec.method} field`), false);
      return;
    }
    call.resolve(codec.decodeReply(body as never));
  }

  private unary(client: Client, op: OperationName, content: Json, signal?: AbortSignal): Promise<Json> {
    const codec = CODECS[op];
    const definition = HUB_SERVICE[codec.method] as {
      path: string;
      requestSerialize: (value: never) => Buffer;
      responseDeserialize: (value: Buffer) => unknown;
    };
    const budget = this.budgetOf(content);
    const where = `gRPC ${definition.path}`;
    return new Promise<Json>((resolve, reject) => {
      let abortedByCaller = false;
      const call = client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize as (value: unknown) => Buffer,
        definition.responseDeserialize,
        codec.encodeRequest(content),
        this.metadata(),
        { deadline: Date.now() + budget },
        (error: ServiceError | null, value?: unknown) => {
          this.calls.delete(call);
          signal?.removeEventListener('abort', onAbort);
          if (!error) {
            resolve(codec.decodeReply(value as never));
            return;
          }
          if (abortedByCaller) reject(new TimeoutError(`${op} aborted by the caller`, { retryable: false }));
          else if (this.stopping) reject(new UnavailableError(`${op} ended: the gRPC transport was stopped`));
          else reject(fromServiceError(error, where));
        },
      );
      const onAbort = () => {
        abortedByCaller = true;
        call.cancel();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.calls.add(call);
    });
  }

  private metadata(): Metadata {
    const metadata = new Metadata();
    if (this.options.apiKey) metadata.set('authorization', `Bearer ${this.options.apiKey}`);
    return metadata;
  }

  /** Keeps what a reconnect must replay: registrations (and forgets unregistered agents). */
  private remember(op: OperationName, content: Json, reply: Json): void {
    if (op === 'agent.register' && typeof reply.agentId === 'string') {
      this.registrations.set(reply.agentId, { ...content, agentId: reply.agentId });
    } else if (op === 'agent.unregister' && typeof content.agentId === 'string') {
      this.registrations.delete(content.agentId);
      this.credits.delete(content.agentId);
    }
  }

  private openStream(): void {
    const client = this.client;
    if (!client || this.stream || this.stopping) return;
    const definition = HUB_SERVICE.streamMessages;
    const stream = client.makeBidiStreamRequest(
      definition.path,
      (frame: Buffer) => frame,
      definition.responseDeserialize,
      this.metadata(),
      {},
    ) as AgentChannel;
    this.stream = stream;
    const openedAt = Date.now();
    stream.on('data', (message: ServerMessage) => {
      this.streamAttempts = 0;
      if (message.reply) this.onReply(message.reply);
      else this.onPush(message);
    });
    const broken = (error?: Error) => {
      // Calls in flight on it end as unary calls do when their connection drops.
      for (const call of [...this.streamCalls.values()]) {
        if (call.stream !== stream) continue;
        call.fail(channelFailure(call.op, error), false);
      }
      if (this.stream !== stream) return;
      this.stream = undefined;
      if (this.stopping) return;
      if (Date.now() - openedAt > 5000) this.streamAttempts = 0;
      if (error) this.options.onError?.(fromServiceError(error, 'gRPC push channel'));
      this.scheduleReopen();
    };
    stream.on('error', (error: Error) => broken(error));
    stream.on('end', () => broken());
    for (const [agentId, credits] of this.credits) {
      if (credits > 0) stream.write(encodeClientMessage({ credits: { agentId, credits } }));
    }
  }

  /** After a broken channel: wait, replay registrations (which also probes the hub), reopen. */
  private scheduleReopen(): void {
    if (this.backoff === false || this.stopping || this.reopening) return;
    this.reopening = true;
    this.streamAttempts += 1;
    this.reopenTimer = setTimeout(
      async () => {
        const client = this.client;
        try {
          if (!client || this.stopping) return;
          for (const [agentId, request] of [...this.registrations]) {
            await this.unary(client, 'agent.register', { ...request, agentId });
          }
          this.reopening = false;
          this.openStream();
        } catch (error) {
          this.reopening = false;
          this.options.onError?.(error as Error);
          this.scheduleReopen();
        }
      },
      backoffDelay(this.streamAttempts, this.backoff),
    );
  }

  private onPush(message: ServerMessage): void {
    if (message.task) {
      const agentId = message.agentId;
      if (agentId !== undefined) {
        const left = (this.credits.get(agentId) ?? 0) - 1;
        if (left > 0) this.credits.set(agentId, left);
        else this.credits.delete(agentId);
      }
      this.deliver({ type: 'task', task: leasedFromProto(message.task) });
    } else if (message.cancel) {
      this.deliver({
        type: 'cancel',
        taskId: message.cancel.taskId,
        ...(message.cancel.reason ? { reason: message.cancel.reason } : {}),
      });
    } else if (message.error) {
      this.options.onError?.(errorFromJSON(errorFromProto(message.error)));
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
}

/**
 * A typed {@link HubClient} over a started {@link GrpcTransport}. Call
 * `client.transport.stop()` when done.
 *
 * @example
 * const hub = await createGrpcClient({ address: '127.0.0.1:50051', apiKey: process.env.MCPMAS_API_KEY });
 * const { task } = await hub.submit({ capability: 'echo', payload: 'hi' });
 */
export async function createGrpcClient(options: GrpcTransportOptions): Promise<HubClient> {
  const transport = new GrpcTransport(options);
  await transport.start();
  return new HubClient(transport);
}

/**
 * How a call in flight on a broken channel fails: with the hub's refusal when it refused the
 * channel (a bad API key), otherwise as a unary call whose connection dropped — retryable
 * `UnavailableError`, whatever status the break itself carried (a reset can read CANCELLED).
 */
function channelFailure(op: OperationName, error: Error | undefined): Error {
  const where = `gRPC StreamMessages ${op}`;
  if (error) {
    const mapped = fromServiceError(error, where);
    if (mapped.code === ErrorCode.Unauthenticated || mapped.code === ErrorCode.Forbidden) return mapped;
    return new UnavailableError(`${where}: the channel broke (${mapped.message})`, { cause: error });
  }
  return new UnavailableError(`${where}: the channel ended`);
}
