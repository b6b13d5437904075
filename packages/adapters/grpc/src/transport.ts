/**
 * {@link GrpcTransport}: the gRPC client face of the adapter. Calls are unary RPCs; pushes
 * arrive on one `StreamMessages` channel that is opened when credits are first granted and
 * reopened with backoff (after replaying the agents' registrations and re-granting their
 * unused credits) whenever it breaks, so a hub restart is invisible to the agent runtime.
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
import type { ClientMessage, ServerMessage } from './generated/mcpmas/v1/hub.js';
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

/**
 * `AgentCommInterface` over gRPC. `sendMessage(op, request)` makes the operation's unary RPC
 * and resolves with the reply; a failed call rejects with the hub's error rebuilt from the
 * `mcpmas-error-bin` trailer. Requests are validated against the core schemas before they are
 * encoded, because protobuf cannot carry what the hub would reject (an unknown field, a
 * fractional integer) — the error is the one the hub would have sent. Push: `grantCredits`
 * opens the `StreamMessages` channel; `receiveMessage` gets its `task` and `cancel` messages.
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
  private stream: ClientDuplexStream<ClientMessage, ServerMessage> | undefined;
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
    const reply = await this.unary(client, target, (content ?? {}) as Json, options.signal);
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
    if (this.stream) this.stream.write({ credits: { agentId, credits: n } });
    else if (!this.reopening) this.openStream();
  }

  // -------------------------------------------------------------------------------------

  private unary(client: Client, op: OperationName, content: Json, signal?: AbortSignal): Promise<Json> {
    const codec = CODECS[op];
    const definition = HUB_SERVICE[codec.method] as {
      path: string;
      requestSerialize: (value: never) => Buffer;
      responseDeserialize: (value: Buffer) => unknown;
    };
    const waitMs = content.waitMs;
    const budget = this.deadlineMs + (typeof waitMs === 'number' && waitMs > 0 ? waitMs : 0);
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
      definition.requestSerialize,
      definition.responseDeserialize,
      this.metadata(),
      {},
    ) as ClientDuplexStream<ClientMessage, ServerMessage>;
    this.stream = stream;
    const openedAt = Date.now();
    stream.on('data', (message: ServerMessage) => {
      this.streamAttempts = 0;
      this.onPush(message);
    });
    const broken = (error?: Error) => {
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
      if (credits > 0) stream.write({ credits: { agentId, credits } });
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
