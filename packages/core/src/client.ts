/**
 * {@link HubClient}: typed operations over any {@link AgentCommInterface}, so the agent
 * runtime and the apps never know which protocol they speak. Also the in-process transport.
 */
import { InternalError, UnsupportedError, ValidationError, validationFromIssues } from './errors.js';
import type {
  AgentCommInterface,
  CallContext,
  Dispatcher,
  InboundMessage,
  TransportFeatures,
} from './interfaces.js';
import { jsonProblem, MAX_JSON_DEPTH } from './json.js';
import { type OperationName, operations, type ReplyOf, type RequestOf } from './schemas.js';

/** Per-call options. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Typed hub operations over a transport. Replies are validated against the wire schemas. */
export class HubClient {
  constructor(readonly transport: AgentCommInterface) {}

  /** Performs one operation and returns its validated reply. */
  async call<Op extends OperationName>(
    operation: Op,
    request: RequestOf<Op>,
    options: CallOptions = {},
  ): Promise<ReplyOf<Op>> {
    let raw: unknown;
    try {
      raw = await this.transport.sendMessage(operation, request, options);
    } catch (error) {
      throw unencodable(error, request) ?? error;
    }
    const parsed = operations[operation].reply.safeParse(raw);
    if (!parsed.success) {
      const err = validationFromIssues(parsed.error.issues);
      throw new InternalError(`malformed ${operation} reply from hub: ${err.message}`, {
        details: err.details ?? {},
      });
    }
    return parsed.data as ReplyOf<Op>;
  }

  register(request: RequestOf<'agent.register'>, options?: CallOptions) {
    return this.call('agent.register', request, options);
  }
  heartbeat(request: RequestOf<'agent.heartbeat'>, options?: CallOptions) {
    return this.call('agent.heartbeat', request, options);
  }
  unregister(request: RequestOf<'agent.unregister'>, options?: CallOptions) {
    return this.call('agent.unregister', request, options);
  }
  submit(request: RequestOf<'task.submit'>, options?: CallOptions) {
    return this.call('task.submit', request, options);
  }
  submitBatch(request: RequestOf<'task.submit_batch'>, options?: CallOptions) {
    return this.call('task.submit_batch', request, options);
  }
  getBatch(request: RequestOf<'batch.get'>, options?: CallOptions) {
    return this.call('batch.get', request, options);
  }
  next(request: RequestOf<'task.next'>, options?: CallOptions) {
    return this.call('task.next', request, options);
  }
  progress(request: RequestOf<'task.progress'>, options?: CallOptions) {
    return this.call('task.progress', request, options);
  }
  result(request: RequestOf<'task.result'>, options?: CallOptions) {
    return this.call('task.result', request, options);
  }
  get(request: RequestOf<'task.get'>, options?: CallOptions) {
    return this.call('task.get', request, options);
  }
  cancel(request: RequestOf<'task.cancel'>, options?: CallOptions) {
    return this.call('task.cancel', request, options);
  }
  agentsStatus(request: RequestOf<'agents.status'> = {}, options?: CallOptions) {
    return this.call('agents.status', request, options);
  }
}

/**
 * The error for a request its transport could not encode (a value that contains itself, or
 * nesting deep enough to exhaust the encoder's stack): a `ValidationError` naming where, in
 * place of the stack overflow or the transport failure that carries it (grpc-js keeps only
 * the message; the MCP client wraps it as unavailability, which would be retried).
 */
function unencodable(error: unknown, request: unknown): ValidationError | undefined {
  let encoding = false;
  // Errors of any realm (structuredClone's come from node's own): read by shape, not class.
  let cause = error as { message?: unknown; cause?: unknown } | null | undefined;
  for (let i = 0; i < 5 && cause !== null && typeof cause === 'object'; i++) {
    // V8's words for both: a RangeError and a TypeError, seen through any wrapping.
    if (
      typeof cause.message === 'string' &&
      /Maximum call stack size exceeded|circular structure/i.test(cause.message)
    )
      encoding = true;
    cause = cause.cause as typeof cause;
  }
  // The request's own level counts once: the depth of its fields matches the hub's check.
  const problem = encoding ? jsonProblem(request, MAX_JSON_DEPTH + 1) : undefined;
  if (!problem) return undefined;
  const issue = { path: problem.path.join('.'), message: problem.message };
  return new ValidationError(`invalid request: ${issue.path}: ${issue.message}`, {
    details: { issues: [issue] },
    cause: error,
  });
}

/** Options of {@link InProcessTransport}. */
export interface InProcessTransportOptions {
  /** API key presented on every call. */
  apiKey?: string;
  /** Protocol name reported to the hub. @default 'inproc' */
  protocol?: string;
}

/**
 * Calls a dispatcher in the same process, with the same validation and auth as a network
 * protocol. Replies are deep-copied, as a wire would. No push.
 */
export class InProcessTransport implements AgentCommInterface {
  readonly protocol: string;
  readonly features: TransportFeatures = { push: false };
  private started = false;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly options: InProcessTransportOptions = {},
  ) {
    this.protocol = options.protocol ?? 'inproc';
  }

  async start(): Promise<void> {
    this.started = true;
  }

  async stop(): Promise<void> {
    this.started = false;
  }

  async sendMessage(target: OperationName, content: unknown, options: CallOptions = {}): Promise<unknown> {
    if (!this.started) throw new InternalError('transport not started; call start() first');
    const context: CallContext = { protocol: this.protocol };
    if (this.options.apiKey) context.credentials = this.options.apiKey;
    if (options.signal) context.signal = options.signal;
    const reply = await this.dispatcher.dispatch(target, structuredClone(content), context);
    return structuredClone(reply);
  }

  receiveMessage(_handler: (message: InboundMessage) => void | Promise<void>): void {
    throw new UnsupportedError('the in-process transport has no push; poll with task.next');
  }
}
