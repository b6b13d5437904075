/**
 * {@link McpTransport}: the MCP client face of the adapter — an `AgentCommInterface` that
 * performs each operation by calling the matching tool over Streamable HTTP with the official
 * MCP client SDK.
 */
import { randomUUID } from 'node:crypto';
import {
  type AgentCommInterface,
  ConfigError,
  HubClient,
  type InboundMessage,
  InternalError,
  McpmasError,
  NotFoundError,
  type OperationName,
  TimeoutError,
  type TransportFeatures,
  UnavailableError,
  UnsupportedError,
} from '@mcpmas/core';
import {
  type CallToolResult,
  Client,
  type FetchLike,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';
import { errorFromProtocolError, errorFromToolResult } from './errors.js';
import { TOOL_BY_OPERATION } from './tools.js';

/** Default time one call may take, long-poll waits excepted. */
export const DEFAULT_MCP_TIMEOUT_MS = 30_000;

/** Options of {@link McpTransport}. */
export interface McpTransportOptions {
  /** The hub's MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`. */
  url: string | URL;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /**
   * Longest time one call may take. A long-poll (`task.next`, `task.get` with `waitMs`) gets
   * its `waitMs` on top. @default 30000
   */
  timeoutMs?: number;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
  /**
   * Protocol revision negotiation: `auto` probes for 2026-07-28 and falls back to the 2025
   * handshake; `legacy` speaks 2025 only. @default 'auto'
   */
  negotiation?: 'auto' | 'legacy';
  /** The fetch used for every HTTP request. @default globalThis.fetch */
  fetch?: FetchLike;
}

/** Header that ties one HTTP request to the call that made it (and names it in hub logs). */
const CALL_HEADER = 'x-request-id';

/**
 * `AgentCommInterface` over MCP. `sendMessage(operation, request)` calls the operation's tool
 * (see `MCP_TOOLS`) and resolves with its `structuredContent`; a tool error rejects with the
 * hub's error rebuilt as the matching `McpmasError` subclass. No push: agents poll with
 * `task.next` (the `next_task` tool).
 *
 * Every call runs on its own `AbortController`: the SDK would otherwise hand one shared
 * transport-wide signal to every `fetch`, and each concurrent request would add a listener to
 * it (a `MaxListenersExceededWarning` and a leak under load). The per-call signal follows the
 * caller's `options.signal`, the call's timeout and {@link McpTransport.stop}.
 */
export class McpTransport implements AgentCommInterface {
  /** Always `mcp`. */
  readonly protocol = 'mcp';
  /** MCP tool calls cannot carry hub pushes; `receiveMessage` throws. */
  readonly features: TransportFeatures = { push: false };
  private readonly url: URL;
  private readonly timeoutMs: number;
  private client: Client | undefined;
  private starting: Promise<Client> | undefined;
  /** Per-call controllers of in-flight HTTP requests, by call id. */
  private readonly inflight = new Map<string, AbortController>();

  /** Validates the options; nothing connects until {@link McpTransport.start}. */
  constructor(private readonly options: McpTransportOptions) {
    try {
      this.url = new URL(String(options.url));
    } catch (error) {
      throw new ConfigError(`url is not a valid URL: ${String(options.url)}`, { cause: error });
    }
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new ConfigError(`url must be an http: or https: URL, got ${this.url.protocol}`);
    }
    this.timeoutMs = options.timeoutMs ?? DEFAULT_MCP_TIMEOUT_MS;
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0) {
      throw new ConfigError(`timeoutMs must be a positive number, got ${options.timeoutMs}`);
    }
  }

  /** Connects and negotiates the protocol revision. A hub that cannot be reached rejects with `UnavailableError`. */
  async start(): Promise<void> {
    await this.connect();
  }

  /** Ends in-flight calls (they reject with `UnavailableError`) and closes the client. */
  async stop(): Promise<void> {
    const client = this.client ?? (await this.starting?.catch(() => undefined));
    this.client = undefined;
    this.starting = undefined;
    for (const controller of this.inflight.values()) controller.abort();
    this.inflight.clear();
    await client?.close().catch(() => undefined);
  }

  /** Performs `target` with request `content` through its tool and resolves with the reply. */
  async sendMessage(
    target: OperationName,
    content: unknown,
    options: { signal?: AbortSignal } = {},
  ): Promise<unknown> {
    const client = this.client;
    if (!client) throw new InternalError('transport not started; call start() first');
    const tool = TOOL_BY_OPERATION[target];
    if (!tool) throw new NotFoundError(`unknown operation "${target}"`, { details: { operation: target } });
    if (options.signal?.aborted) throw new TimeoutError(`${target} aborted by the caller before it was sent`);

    const waitMs = (content as { waitMs?: unknown } | undefined)?.waitMs;
    const timeout = this.timeoutMs + (typeof waitMs === 'number' && waitMs > 0 ? waitMs : 0);
    const id = randomUUID();
    const controller = new AbortController();
    this.inflight.set(id, controller);
    const onCaller = () => controller.abort();
    options.signal?.addEventListener('abort', onCaller, { once: true });
    try {
      const result = (await client.callTool(
        { name: tool, arguments: (content ?? {}) as Record<string, unknown> },
        {
          signal: controller.signal,
          timeout,
          headers: { [CALL_HEADER]: id },
          maxTotalTimeout: timeout,
          // Asking for progress makes the hub send keep-alives while a long-poll waits.
          ...(timeout > this.timeoutMs ? { onprogress: () => undefined, resetTimeoutOnProgress: true } : {}),
        },
      )) as CallToolResult;
      if (result.isError) throw errorFromToolResult(result);
      if (result.structuredContent === undefined) {
        throw new InternalError(`the hub answered ${tool} without structured content`);
      }
      return result.structuredContent;
    } catch (error) {
      if (error instanceof McpmasError) throw error;
      if (options.signal?.aborted) {
        throw new TimeoutError(`${target} aborted by the caller`, { cause: error, retryable: false });
      }
      if (!this.inflight.has(id)) {
        throw new UnavailableError(`${target} ended: the transport was stopped`, { cause: error });
      }
      throw this.translate(error, target, timeout);
    } finally {
      options.signal?.removeEventListener('abort', onCaller);
      this.inflight.delete(id);
      // Ends the HTTP exchange too when the SDK gave up on it first (timeout).
      controller.abort();
    }
  }

  /** Always throws `UnsupportedError`: the hub cannot push over MCP tool calls. */
  receiveMessage(_handler: (message: InboundMessage) => void | Promise<void>): void {
    throw new UnsupportedError('the MCP transport has no push; poll with task.next (the next_task tool)');
  }

  private connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    this.starting ??= (async () => {
      const headers: Record<string, string> = { ...this.options.headers };
      if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
      const transport = new StreamableHTTPClientTransport(this.url, {
        requestInit: { headers },
        fetch: this.fetchWithOwnSignal(),
      });
      const client = new Client(
        { name: '@mcpmas/adapter-mcp', version: '0.1.0' },
        { versionNegotiation: { mode: this.options.negotiation ?? 'auto' } },
      );
      try {
        await client.connect(transport, { timeout: this.timeoutMs });
      } catch (error) {
        this.starting = undefined;
        await client.close().catch(() => undefined);
        throw new UnavailableError(
          `cannot connect to the MCP endpoint ${this.url.href}: ${messageOf(error)}`,
          {
            cause: error,
            details: { url: this.url.href },
          },
        );
      }
      this.client = client;
      return client;
    })();
    return this.starting;
  }

  /**
   * The fetch the SDK transport uses: each request gets the signal of its own call (found by
   * the call-id header) instead of the SDK's shared one. Requests outside a call (connect,
   * probes) get a fresh controller that {@link McpTransport.stop} still aborts.
   */
  private fetchWithOwnSignal(): FetchLike {
    const base = this.options.fetch ?? fetch;
    return async (input, init) => {
      const headers = new Headers(init?.headers);
      const callId = headers.get(CALL_HEADER);
      let controller = callId ? this.inflight.get(callId) : undefined;
      let own: string | undefined;
      if (!controller) {
        own = randomUUID();
        controller = new AbortController();
        this.inflight.set(own, controller);
      }
      try {
        return await base(input, { ...init, signal: controller.signal });
      } finally {
        if (own) this.inflight.delete(own);
      }
    };
  }

  private translate(error: unknown, target: OperationName, timeout: number): McpmasError {
    if (error instanceof ProtocolError) return errorFromProtocolError(error.code, error.message, error.data);
    if (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout) {
      return new TimeoutError(`no reply to ${target} within ${timeout} ms`, {
        cause: error,
        details: { timeoutMs: timeout },
      });
    }
    return new UnavailableError(
      `${target} failed at the MCP endpoint ${this.url.href}: ${messageOf(error)}`,
      {
        cause: error,
        details: { url: this.url.href },
      },
    );
  }
}

/**
 * A typed `HubClient` over a started {@link McpTransport}. Call `client.transport.stop()` when
 * done.
 *
 * @example
 * const hub = await createMcpClient({ url: 'http://127.0.0.1:8080/mcp', apiKey: process.env.MCPMAS_API_KEY });
 * const { task } = await hub.submit({ capability: 'echo', payload: 'hi' });
 */
export async function createMcpClient(options: McpTransportOptions): Promise<HubClient> {
  const transport = new McpTransport(options);
  await transport.start();
  return new HubClient(transport);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
