/**
 * {@link GrpcServerAdapter}: the gRPC protocol server. Each RPC decodes its protobuf request,
 * calls the core dispatcher and encodes the reply — nothing else. Push (`NextTask`,
 * `StreamMessages`) runs on core's {@link PushSession}; the standard `grpc.health.v1` service
 * reports SERVING while the server runs.
 */
import { setMaxListeners } from 'node:events';
import {
  type handleBidiStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerWritableStream,
  type ServiceError,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import {
  type CallContext,
  ConfigError,
  ConflictError,
  type Dispatcher,
  fromUnknown,
  IdSchema,
  InternalError,
  LazyCallContext,
  type McpmasError,
  type OperationName,
  PushSession,
  type ServerAdapter,
  ValidationError,
} from '@mcpmas/core';
import { CODECS, errorToProto, leasedToProto, OPERATION_BY_METHOD } from './codec.js';
import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  HealthService,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from './generated/grpc/health/v1/health.js';
import type {
  Call,
  ClientMessage,
  NextTaskRequest,
  ServerMessage,
  TaskPush,
} from './generated/mcpmas/v1/hub.js';
import { HUB_SERVICE, UndecodableMessage } from './serialize.js';
import { toServiceError } from './status.js';

/** Default listening address: loopback only, so nothing is exposed by accident. */
export const DEFAULT_GRPC_HOST = '127.0.0.1';
/** Default listening port. */
export const DEFAULT_GRPC_PORT = 50051;
/** Default largest message, either way (4 MiB, gRPC's usual default). */
export const DEFAULT_GRPC_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** The fully-qualified name of the hub service, as health checks name it. */
export const HUB_SERVICE_NAME = 'mcpmas.v1.Hub';

/** TLS material (PEM). Give `ca` to require and verify client certificates (mutual TLS). */
export interface GrpcServerTls {
  cert: string | Buffer;
  key: string | Buffer;
  ca?: string | Buffer;
}

/** Options of {@link GrpcServerAdapter}. */
export interface GrpcServerOptions {
  /** TCP port; `0` picks a free one (read it back with `address()`). @default 50051 */
  port?: number;
  /** Interface to listen on; `0.0.0.0` or `::` for all. @default '127.0.0.1' */
  host?: string;
  /** Serve TLS instead of plaintext. */
  tls?: GrpcServerTls;
  /** Largest message received or sent; a larger one fails with RESOURCE_EXHAUSTED. @default 4194304 */
  maxMessageBytes?: number;
  /** Long-poll wait of one push lease. @default 20000 */
  pushWaitMs?: number;
  /** On stop, how long calls get to finish before the server is shut down hard. @default 1000 */
  shutdownGraceMs?: number;
}

/** Where a started server listens. */
export interface GrpcServerAddress {
  host: string;
  port: number;
  /** `host:port`, as `GrpcTransport` takes it. */
  address: string;
}

/** The API key from `authorization: Bearer <key>` (or `x-api-key`) metadata. */
export function credentialsFromMetadata(metadata: Metadata): string | undefined {
  const auth = metadata.get('authorization')[0];
  if (typeof auth === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (match) return match[1]!.trim();
  }
  const key = metadata.get('x-api-key')[0];
  return typeof key === 'string' && key !== '' ? key : undefined;
}

/** Anything a server call has that we read: metadata, peer, deadline, cancellation. */
interface AnyServerCall {
  metadata: Metadata;
  getPeer(): string;
  getDeadline(): Date | number;
  /** Set by grpc-js once the client cancelled (or the stream closed early). */
  readonly cancelled: boolean;
  on(event: 'cancelled', listener: () => void): unknown;
  off(event: 'cancelled', listener: () => void): unknown;
}

/**
 * The gRPC protocol server. `start(dispatcher)` binds and serves the `Hub` and `Health`
 * services; `stop()` reports NOT_SERVING, ends long-polls and streams, and shuts down.
 */
export class GrpcServerAdapter implements ServerAdapter {
  /** Always `grpc`. */
  readonly protocol = 'grpc';
  private readonly port: number;
  private readonly host: string;
  private readonly maxMessageBytes: number;
  private readonly graceMs: number;
  private server: Server | undefined;
  private bound: GrpcServerAddress | undefined;
  private serving = false;
  /** Aborts every pending call and stream on stop. */
  private shutdown = new AbortController();
  private readonly watchers = new Set<ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>();

  /** Validates the options; nothing listens until {@link GrpcServerAdapter.start}. */
  constructor(private readonly options: GrpcServerOptions = {}) {
    this.port = options.port ?? DEFAULT_GRPC_PORT;
    this.host = options.host ?? DEFAULT_GRPC_HOST;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_GRPC_MAX_MESSAGE_BYTES;
    this.graceMs = options.shutdownGraceMs ?? 1000;
    if (!Number.isInteger(this.port) || this.port < 0 || this.port > 65_535)
      throw new ConfigError(`port must be an integer from 0 to 65535, got ${options.port}`);
    if (typeof this.host !== 'string' || this.host === '')
      throw new ConfigError('host must be a non-empty string');
    if (!Number.isInteger(this.maxMessageBytes) || this.maxMessageBytes < 1024)
      throw new ConfigError(`maxMessageBytes must be an integer >= 1024, got ${options.maxMessageBytes}`);
    if (!Number.isFinite(this.graceMs) || this.graceMs < 0)
      throw new ConfigError(`shutdownGraceMs must be a number >= 0, got ${options.shutdownGraceMs}`);
    if (options.tls && (!options.tls.cert || !options.tls.key))
      throw new ConfigError('tls needs both cert and key (PEM)');
  }

  /** Binds and starts serving. Rejects with a `ConfigError` if it cannot bind. */
  async start(dispatcher: Dispatcher): Promise<void> {
    if (this.server) throw new ConflictError('the gRPC server is already started');
    this.shutdown = new AbortController();
    // Every call in flight listens for stop (and removes its listener when it ends), so the
    // count follows the number of concurrent calls: no limit, no leak warning.
    setMaxListeners(0, this.shutdown.signal);
    const server = new Server({
      'grpc.max_receive_message_length': this.maxMessageBytes,
      'grpc.max_send_message_length': this.maxMessageBytes,
    });
    server.addService(HUB_SERVICE, this.hubImplementation(dispatcher));
    server.addService(HealthService, this.healthImplementation());
    const tls = this.options.tls;
    const credentials = tls
      ? ServerCredentials.createSsl(
          tls.ca ? Buffer.from(tls.ca) : null,
          [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }],
          Boolean(tls.ca),
        )
      : ServerCredentials.createInsecure();
    const target = `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(target, credentials, (error, bound) => {
        if (error) {
          reject(
            new ConfigError(`cannot listen on ${target}: ${error.message}`, {
              cause: error,
              details: { target },
            }),
          );
        } else resolve(bound);
      });
    });
    this.server = server;
    this.serving = true;
    this.bound = {
      host: this.host,
      port,
      address: `${this.host.includes(':') ? `[${this.host}]` : this.host}:${port}`,
    };
  }

  /**
   * Reports NOT_SERVING, ends long-polls (they reply at once) and push streams, lets calls
   * finish for `shutdownGraceMs`, then shuts down hard. Safe to call twice.
   */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.bound = undefined;
    this.setServing(false);
    for (const watcher of this.watchers) watcher.end();
    this.watchers.clear();
    this.shutdown.abort();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, this.graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Where the server listens. Throws if it is not started. */
  address(): GrpcServerAddress {
    if (!this.bound) throw new InternalError('the gRPC server is not started');
    return { ...this.bound };
  }

  // -------------------------------------------------------------------------------------

  /**
   * The call context of a gRPC call. Its signal aborts on cancel, deadline and stop, but the
   * listeners and the deadline timer behind it start only when something listens (a
   * long-poll). Most calls never wait, and an AbortController, two listeners and a timer per
   * call were a tenth of the hub's CPU per gRPC call (`pnpm bench:protocols`: about 81 → 72
   * µs). `done()` removes whatever was started.
   */
  private contextOf(call: AnyServerCall): GrpcCallContext {
    const context = new GrpcCallContext(call, this.shutdown.signal);
    const metadata = call.metadata;
    const credentials = credentialsFromMetadata(metadata);
    if (credentials) context.credentials = credentials;
    const traceparent = metadata.get('traceparent')[0];
    if (typeof traceparent === 'string') context.traceparent = traceparent;
    const peer = call.getPeer();
    if (peer) context.remoteAddress = peer;
    return context;
  }

  private hubImplementation(dispatcher: Dispatcher): UntypedServiceImplementation {
    const impl: UntypedServiceImplementation = {};
    for (const [method, op] of OPERATION_BY_METHOD) {
      const codec = CODECS[op];
      const handler: handleUnaryCall<unknown, unknown> = (call, callback) => {
        if (call.request instanceof UndecodableMessage) {
          callback(toServiceError(call.request.error()) as ServiceError);
          return;
        }
        let request: unknown;
        try {
          request = codec.decodeRequest(call.request as never);
        } catch (error) {
          callback(toServiceError(error) as ServiceError);
          return;
        }
        const context = this.contextOf(call);
        dispatcher.dispatch(op, request, context).then(
          (reply) => {
            context.done();
            callback(null, codec.encodeReply(reply as Record<string, unknown>));
          },
          (error: unknown) => {
            context.done();
            callback(toServiceError(error) as ServiceError);
          },
        );
      };
      impl[method] = handler;
    }
    impl.nextTask = this.nextTask(dispatcher);
    impl.streamMessages = this.streamMessages(dispatcher);
    return impl;
  }

  /** Server-streaming dispatch: lease and stream tasks, at most `max_in_flight` unfinished. */
  private nextTask(dispatcher: Dispatcher): handleServerStreamingCall<NextTaskRequest, TaskPush> {
    return (call) => {
      const context = this.contextOf(call);
      const done = () => context.done();
      const request = call.request;
      const agentId = IdSchema.safeParse(request.agentId);
      const maxInFlight = request.maxInFlight === 0 ? 1 : request.maxInFlight;
      const fail = (error: McpmasError) => {
        done();
        session?.close();
        call.emit('error', toServiceError(error));
      };
      let session: PushSession | undefined;
      if ((request as unknown) instanceof UndecodableMessage)
        return fail((request as unknown as UndecodableMessage).error());
      if (!agentId.success) return fail(invalid('agent_id', 'must be a valid agent id'));
      if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 1000)
        return fail(invalid('max_in_flight', 'must be from 0 to 1000'));
      const base = plainContext(context);
      session = new PushSession({
        dispatcher,
        context: base,
        refillOnTerminal: true,
        ...(this.options.pushWaitMs !== undefined ? { waitMs: this.options.pushWaitMs } : {}),
        send: (message) => {
          if (message.type === 'task') call.write({ task: leasedToProto(message.task) });
          else if (message.type === 'cancel')
            call.write({ cancel: { taskId: message.taskId, reason: message.reason } });
        },
        writable: () => !call.writableNeedDrain,
        onError: (error) => fail(error),
      });
      const active = session;
      call.on('drain', () => active.drained());
      context.onAbort(() => {
        active.close();
        done();
        if (!call.writableEnded) call.end();
      });
      const capabilities = request.capabilities.length > 0 ? request.capabilities : undefined;
      active.grant(agentId.data, maxInFlight, capabilities ? { capabilities } : {});
    };
  }

  /** The bidirectional agent channel: calls with ids, credit grants, pushes. */
  private streamMessages(dispatcher: Dispatcher): handleBidiStreamingCall<ClientMessage, ServerMessage> {
    return (call: ServerDuplexStream<ClientMessage, ServerMessage>) => {
      const context = this.contextOf(call);
      const base = plainContext(context);
      const calls = new Map<number, LazyCallContext>();
      const write = (message: ServerMessage) => {
        if (!call.writableEnded && !call.destroyed) call.write(message);
      };
      const session = new PushSession({
        dispatcher,
        context: base,
        ...(this.options.pushWaitMs !== undefined ? { waitMs: this.options.pushWaitMs } : {}),
        send: (message, agentId) => {
          if (message.type === 'task') write({ task: leasedToProto(message.task), agentId });
          else if (message.type === 'cancel')
            write({ cancel: { taskId: message.taskId, reason: message.reason }, agentId });
        },
        writable: () => !call.writableNeedDrain,
        onError: (error, agentId) => {
          const json = error.toJSON();
          write({ error: errorToProto({ ...json, details: { ...json.details, agentId } }) });
        },
      });
      call.on('drain', () => session.drained());
      const end = () => {
        session.close();
        for (const c of calls.values()) c.abort();
        calls.clear();
        context.done();
      };
      context.onAbort(() => {
        end();
        if (!call.writableEnded) call.end();
      });
      call.on('error', end);
      call.on('end', () => {
        end();
        if (!call.writableEnded) call.end();
      });
      call.on('data', (message: ClientMessage | UndecodableMessage) => {
        if (message instanceof UndecodableMessage) write({ error: errorToProto(message.error().toJSON()) });
        else if (message.call) this.streamCall(dispatcher, message.call, base, calls, write);
        else if (message.credits) {
          const agentId = IdSchema.safeParse(message.credits.agentId);
          const credits = message.credits.credits;
          if (!agentId.success || !Number.isInteger(credits) || credits < 1 || credits > 10_000) {
            write({
              error: errorToProto(
                invalid('credits', 'needs a valid agent_id and credits from 1 to 10000').toJSON(),
              ),
            });
            return;
          }
          session.grant(agentId.data, credits);
        } else if (message.abort) calls.get(message.abort.id)?.abort();
        else
          write({
            error: errorToProto(invalid('message', 'a ClientMessage needs call, credits or abort').toJSON()),
          });
      });
    };
  }

  private streamCall(
    dispatcher: Dispatcher,
    frame: Call,
    base: Omit<CallContext, 'signal'>,
    calls: Map<number, LazyCallContext>,
    write: (message: ServerMessage) => void,
  ): void {
    const id = frame.id;
    const fail = (error: McpmasError) => write({ reply: { id, error: errorToProto(error.toJSON()) } });
    let op: OperationName | undefined;
    let method: string | undefined;
    for (const [m, o] of OPERATION_BY_METHOD) {
      if ((frame as unknown as Record<string, unknown>)[m] !== undefined) {
        op = o;
        method = m;
        break;
      }
    }
    if (!op || !method) {
      fail(invalid('call', 'a Call needs one request field'));
      return;
    }
    if (calls.has(id)) {
      fail(invalid('call.id', `id ${id} is already in flight on this stream`));
      return;
    }
    const codec = CODECS[op];
    // An abort frame or the stream's end aborts it; the signal is made only if the call reads it.
    const context = Object.assign(new LazyCallContext('grpc'), base);
    context.requestId = String(id);
    if (frame.traceparent) context.traceparent = frame.traceparent;
    calls.set(id, context);
    const finish = (reply: ServerMessage['reply']) => {
      calls.delete(id);
      write({ reply });
    };
    Promise.resolve()
      .then(() => codec.decodeRequest((frame as unknown as Record<string, never>)[method]!))
      .then((request) => dispatcher.dispatch(op, request, context))
      .then(
        (reply) => finish({ id, [method]: codec.encodeReply(reply as Record<string, unknown>) }),
        (error: unknown) => finish({ id, error: errorToProto(fromUnknown(error).toJSON()) }),
      );
  }

  private healthImplementation(): UntypedServiceImplementation {
    const statusOf = (service: string): ServingStatus | undefined => {
      if (service !== '' && service !== HUB_SERVICE_NAME) return undefined;
      return this.serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    };
    const check: handleUnaryCall<HealthCheckRequest, HealthCheckResponse> = (call, callback) => {
      const current = statusOf(call.request.service);
      if (current === undefined) {
        callback({ code: status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
        return;
      }
      callback(null, { status: current });
    };
    const watch: handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse> = (call) => {
      call.write({ status: statusOf(call.request.service) ?? ServingStatus.SERVICE_UNKNOWN });
      if (statusOf(call.request.service) === undefined) return;
      this.watchers.add(call);
      call.on('cancelled', () => this.watchers.delete(call));
    };
    return { check, watch };
  }

  private setServing(serving: boolean): void {
    this.serving = serving;
    for (const watcher of this.watchers) {
      watcher.write({ status: serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING });
    }
  }
}

/** The data of a call context (protocol, credentials, peer, trace), without its signal. */
function plainContext(context: CallContext): Omit<CallContext, 'signal'> {
  const base: Omit<CallContext, 'signal'> = { protocol: context.protocol };
  if (context.credentials !== undefined) base.credentials = context.credentials;
  if (context.traceparent !== undefined) base.traceparent = context.traceparent;
  if (context.remoteAddress !== undefined) base.remoteAddress = context.remoteAddress;
  return base;
}

/**
 * The context of one gRPC call: aborted when the client cancels, the deadline passes or the
 * server stops — listened for only once something waits on it ({@link LazyCallContext.watch}).
 */
class GrpcCallContext extends LazyCallContext {
  #call: AnyServerCall;
  #shutdown: AbortSignal;
  #onAbort: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(call: AnyServerCall, shutdown: AbortSignal) {
    super('grpc');
    this.#call = call;
    this.#shutdown = shutdown;
  }

  protected override watch(): void {
    if (this.#done) return;
    const call = this.#call;
    if (this.#shutdown.aborted || call.cancelled) {
      this.abort();
      return;
    }
    const deadline = call.getDeadline();
    const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : deadline - Date.now();
    const onAbort = () => this.abort();
    this.#onAbort = onAbort;
    call.on('cancelled', onAbort);
    this.#shutdown.addEventListener('abort', onAbort, { once: true });
    if (Number.isFinite(ms)) this.#timer = setTimeout(onAbort, Math.max(0, ms));
  }

  /** The call has ended: stops listening (and nothing starts listening later). */
  done(): void {
    this.#done = true;
    const onAbort = this.#onAbort;
    if (!onAbort) return;
    this.#onAbort = undefined;
    clearTimeout(this.#timer);
    this.#call.off('cancelled', onAbort);
    this.#shutdown.removeEventListener('abort', onAbort);
  }
}

function invalid(path: string, message: string): ValidationError {
  return new ValidationError(`invalid request: ${path}: ${message}`, {
    details: { issues: [{ path, message }] },
  });
}
