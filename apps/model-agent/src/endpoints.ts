/**
 * Hub endpoints: what a `hubUrl` names (protocol and address) and the transport that speaks
 * it. Several URLs make one {@link FailoverTransport} that uses them in order of preference.
 *
 * | URL                                         | protocol | transport                 |
 * | ------------------------------------------- | -------- | ------------------------- |
 * | `http://host:8080`, `https://…`             | http     | `HttpTransport`           |
 * | `http://host:8080/mcp` (path ends in `/mcp`) | mcp      | `McpTransport`            |
 * | `mcp+http://host:8080/any/path`             | mcp      | `McpTransport`            |
 * | `ws://host:8080/ws`, `wss://…`              | ws       | `WsTransport`             |
 * | `grpc://host:50051`, `grpcs://…` (TLS)      | grpc     | `GrpcTransport`           |
 */
import { readFileSync } from 'node:fs';
import { GrpcTransport } from '@mcpmas/adapter-grpc';
import { HttpTransport } from '@mcpmas/adapter-http';
import { McpTransport } from '@mcpmas/adapter-mcp';
import { WsTransport } from '@mcpmas/adapter-ws';
import { FailoverTransport } from '@mcpmas/agent';
import {
  type AgentCommInterface,
  ConfigError,
  ErrorCode,
  fromUnknown,
  type InboundMessage,
  type OperationName,
  type TransportFeatures,
} from '@mcpmas/core';

/** The protocols an agent can speak to a hub. */
export const AGENT_PROTOCOLS = ['http', 'ws', 'grpc', 'mcp'] as const;
/** @see AGENT_PROTOCOLS */
export type AgentProtocol = (typeof AGENT_PROTOCOLS)[number];
/** The `protocol` setting: `auto` reads it from each URL. */
export type ProtocolSetting = 'auto' | AgentProtocol;

/** Port of a `grpc://host` URL that names none. */
export const DEFAULT_GRPC_URL_PORT = 50051;

/** One hub endpoint: a protocol and where to reach it. */
export interface HubEndpoint {
  protocol: AgentProtocol;
  /** The URL as given. */
  url: string;
  /** What the transport takes: a base URL (http, mcp, ws) or `host:port` (grpc). */
  target: string;
  /** gRPC over TLS (`grpcs://`). */
  tls?: boolean;
}

/**
 * Reads one hub URL. `protocol` other than `auto` says which protocol an `http(s)://` URL
 * speaks (`http` or `mcp`) and must agree with the other schemes. Throws an `Error` whose
 * message says what is wrong.
 */
export function parseHubUrl(text: string, protocol: ProtocolSetting = 'auto'): HubEndpoint {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new Error(`"${text}" is not a URL (e.g. http://127.0.0.1:8080, ws://…/ws, grpc://host:50051)`);
  }
  const scheme = url.protocol.slice(0, -1);
  const expect = (wanted: AgentProtocol, schemes: string) => {
    if (protocol !== 'auto' && protocol !== wanted) {
      throw new Error(`${text} is a ${wanted} URL, but protocol is ${protocol} (which takes ${schemes})`);
    }
  };
  switch (scheme) {
    case 'http':
    case 'https': {
      if (protocol === 'ws' || protocol === 'grpc') {
        throw new Error(
          `${text} is an ${scheme} URL, but protocol is ${protocol} (which takes ${protocol === 'ws' ? 'ws:// or wss://' : 'grpc:// or grpcs://'})`,
        );
      }
      const mcp = protocol === 'mcp' || (protocol === 'auto' && /\/mcp\/?$/.test(url.pathname));
      return { protocol: mcp ? 'mcp' : 'http', url: text, target: url.href };
    }
    case 'mcp+http':
    case 'mcp+https':
      expect('mcp', 'http://, https:// or mcp+http(s)://');
      return { protocol: 'mcp', url: text, target: text.trim().replace(/^mcp\+/i, '') };
    case 'ws':
    case 'wss':
      expect('ws', 'ws:// or wss://');
      return { protocol: 'ws', url: text, target: url.href };
    case 'grpc':
    case 'grpcs': {
      expect('grpc', 'grpc:// or grpcs://');
      if (url.pathname !== '' && url.pathname !== '/') {
        throw new Error(`${text}: a gRPC URL is grpc://host:port, without a path`);
      }
      if (url.hostname === '') throw new Error(`${text}: a gRPC URL needs a host`);
      const port = url.port === '' ? DEFAULT_GRPC_URL_PORT : Number(url.port);
      return {
        protocol: 'grpc',
        url: text,
        target: `${url.hostname}:${port}`,
        ...(scheme === 'grpcs' ? { tls: true } : {}),
      };
    }
    default:
      throw new Error(
        `${text}: unknown scheme ${scheme}:// (use http(s)://, ws(s)://, grpc(s):// or an http URL ending in /mcp)`,
      );
  }
}

/** How {@link createTransport} connects. */
export interface TransportOptions {
  /** Sent to the hub on every protocol. */
  apiKey?: string;
  /** Longest time one call may take, long-poll waits excepted. */
  requestTimeoutMs?: number;
  /** PEM file of a CA to trust for `grpcs://` (a private CA or a self-signed hub certificate). */
  grpcTlsCa?: string;
}

/** The transport of one endpoint, not started. */
export function createTransport(endpoint: HubEndpoint, options: TransportOptions = {}): AgentCommInterface {
  const apiKey = options.apiKey ? { apiKey: options.apiKey } : {};
  const timeout = options.requestTimeoutMs;
  switch (endpoint.protocol) {
    case 'http':
      return new HttpTransport({
        baseUrl: endpoint.target,
        ...apiKey,
        ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
      });
    case 'ws':
      return new WsTransport({
        url: endpoint.target,
        ...apiKey,
        ...(timeout !== undefined ? { requestTimeoutMs: timeout } : {}),
      });
    case 'grpc': {
      let tls: { ca: Buffer } | boolean | undefined = endpoint.tls;
      if (endpoint.tls && options.grpcTlsCa !== undefined) {
        try {
          tls = { ca: readFileSync(options.grpcTlsCa) };
        } catch (error) {
          throw new ConfigError(`grpcTlsCa: cannot read ${options.grpcTlsCa}: ${(error as Error).message}`, {
            cause: error,
          });
        }
      }
      return new GrpcTransport({
        address: endpoint.target,
        ...apiKey,
        ...(tls ? { tls } : {}),
        ...(timeout !== undefined ? { deadlineMs: timeout } : {}),
      });
    }
    case 'mcp':
      return new ConnectLater(
        new McpTransport({
          url: endpoint.target,
          ...apiKey,
          ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
        }),
      );
  }
}

/** Options of {@link createHubTransport}. */
export interface HubTransportOptions extends TransportOptions {
  /** With several endpoints: how often endpoints marked down are probed. @default 2000 */
  probeIntervalMs?: number;
  /** With several endpoints: told when the agent moves to another one. */
  onSwitch?: (from: HubEndpoint, to: HubEndpoint, reason: string) => void;
}

/**
 * The transport of a list of endpoints: the endpoint's own transport for one (push over ws
 * and gRPC), a {@link FailoverTransport} in order of preference for several.
 */
export function createHubTransport(
  endpoints: readonly HubEndpoint[],
  options: HubTransportOptions = {},
): AgentCommInterface {
  if (endpoints.length === 0) throw new ConfigError('hubUrl: at least one hub URL is needed');
  const transports = endpoints.map((endpoint) => createTransport(endpoint, options));
  if (transports.length === 1) return transports[0]!;
  const { onSwitch, probeIntervalMs } = options;
  return new FailoverTransport(transports, {
    ...(probeIntervalMs !== undefined ? { probeIntervalMs } : {}),
    ...(onSwitch
      ? {
          onSwitch: (from, to, reason) =>
            onSwitch(endpoints[transports.indexOf(from)]!, endpoints[transports.indexOf(to)]!, reason),
        }
      : {}),
  });
}

/**
 * A transport whose `start()` does not fail while the hub is unreachable: it connects on the
 * first call instead (which then fails with a retryable `UnavailableError` until the hub
 * answers), so the agent runtime's retries cover start-up too, as they do for HTTP, ws and
 * gRPC. Used for MCP, whose client connects (and negotiates) in `start()`.
 */
export class ConnectLater implements AgentCommInterface {
  private connected: Promise<void> | undefined;

  /** Wraps `inner`, which is started on demand. */
  constructor(private readonly inner: AgentCommInterface) {}

  /** The wrapped transport's protocol. */
  get protocol(): string {
    return this.inner.protocol;
  }

  /** The wrapped transport's features. */
  get features(): TransportFeatures {
    return this.inner.features;
  }

  /** Tries to connect; an unreachable hub is left for the first call to retry. */
  async start(): Promise<void> {
    await this.connect().catch((error: unknown) => {
      if (fromUnknown(error).code !== ErrorCode.Unavailable) throw error;
    });
  }

  /** Stops the wrapped transport. */
  async stop(): Promise<void> {
    this.connected = undefined;
    await this.inner.stop();
  }

  /** Connects first if needed, then sends. */
  async sendMessage(
    target: OperationName,
    content: unknown,
    options?: { signal?: AbortSignal },
  ): Promise<unknown> {
    await this.connect();
    return this.inner.sendMessage(target, content, options);
  }

  /** Passes the handler on. */
  receiveMessage(handler: (message: InboundMessage) => void | Promise<void>): void {
    this.inner.receiveMessage(handler);
  }

  private connect(): Promise<void> {
    this.connected ??= this.inner.start().catch((error: unknown) => {
      this.connected = undefined;
      throw error;
    });
    return this.connected;
  }
}
