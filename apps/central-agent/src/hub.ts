/**
 * {@link startHub}: composes the packages a configuration asks for — a backend (memory, or
 * Redis when `redisUrl` is set), the protocol servers (HTTP, MCP and WebSocket on one HTTP
 * server, gRPC on its own port) and the hub engine — and starts them.
 */
import { readFileSync } from 'node:fs';
import { GrpcServerAdapter, type GrpcServerTls } from '@mcpmas/adapter-grpc';
import { type McpHttpEndpoint, mountMcp } from '@mcpmas/adapter-mcp';
import { DEFAULT_WS_MAX_PAYLOAD_BYTES, WsServerAdapter } from '@mcpmas/adapter-ws';
import { createLogger } from '@mcpmas/cli-config';
import {
  type Backend,
  ConfigError,
  createMemoryBackend,
  type Dispatcher,
  type Notifier,
  type ServerAdapter,
} from '@mcpmas/core';
import { Hub } from '@mcpmas/hub';
import type { Logger } from 'pino';
import { type HubConfig, type HubProtocol, sizeInBytes } from './config.js';
import { HubHttpServer } from './http-server.js';
import { createNotifiers } from './notifiers.js';

/** A started hub. */
export interface RunningHub {
  hub: Hub;
  /**
   * Base URL of the HTTP API, e.g. `http://127.0.0.1:8080` (with HTTP not served, the URL of
   * the first protocol served).
   */
  url: string;
  /**
   * The URL of every protocol served, as clients and `mcpmas-agent --hub-url` take them:
   * `http://127.0.0.1:8080`, `ws://127.0.0.1:8080/ws`, `grpc://127.0.0.1:50051` (`grpcs://`
   * with TLS), `http://127.0.0.1:8080/mcp`.
   */
  urls: Partial<Record<HubProtocol, string>>;
  /** Stops the hub gracefully and closes the backend. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@link startHub}. */
export interface StartHubOptions {
  /** @default a pino logger at `config.logLevel` on stdout */
  logger?: Logger;
}

/** Room for the framing around the largest payload or result in one WebSocket frame or gRPC message. */
const FRAME_OVERHEAD_BYTES = 64 * 1024;

/**
 * Starts a hub from a validated configuration and logs one `hub ready` line with the URL of
 * every protocol it serves.
 *
 * @example
 * const { config } = loadHubConfig(['--port', '0', '--grpc-port', '0'], {}, process.cwd());
 * const running = await startHub(config);
 * console.log(running.urls); // { http: 'http://127.0.0.1:…', ws: 'ws://…/ws', grpc: 'grpc://…', mcp: 'http://…/mcp' }
 * await running.stop();
 */
export async function startHub(config: HubConfig, options: StartHubOptions = {}): Promise<RunningHub> {
  const logger = options.logger ?? createLogger('mcpmas-hub', config.logLevel);
  const serves = new Set<HubProtocol>(config.protocols);
  // Files first: a missing certificate is a configuration error before anything is opened.
  const grpcTls = serves.has('grpc') ? readGrpcTls(config) : undefined;
  const backend = config.redisUrl
    ? await createRedisBackendFor(config, config.redisUrl)
    : createMemoryBackend({ queue: { resultTtlMs: config.resultTtlMs } });

  let notifiers: Notifier[];
  try {
    notifiers = createNotifiers(config.notifiers);
  } catch (error) {
    await backend.close();
    throw error;
  }
  let hub: Hub | undefined;
  const frameBytes = Math.max(config.maxPayloadBytes, config.maxResultBytes) + FRAME_OVERHEAD_BYTES;
  const wsAttached = serves.has('ws') && serves.has('http') && config.wsPort === undefined;
  let mcpEndpoint: McpHttpEndpoint | undefined;
  let http: HubHttpServer | undefined;
  let ws: WsServerAdapter | undefined;
  let grpc: GrpcServerAdapter | undefined;
  const adapters: ServerAdapter[] = [];
  try {
    if (serves.has('http')) {
      http = new HubHttpServer({
        host: config.host,
        port: config.port,
        bodyLimit: config.bodyLimit,
        upgradePaths: wsAttached ? [config.wsPath] : [],
        metrics: () => hub!.metricsText(),
        health: () => hub!.health(),
        // A retryable refusal (the hub shutting down, Redis unreachable) is expected and says
        // all there is to say: no stack. Anything else is a fault worth the whole error.
        onError: (error, req) =>
          error.retryable
            ? logger.warn(
                { code: error.code, err: error.message, method: req.method, path: req.path },
                'request refused',
              )
            : logger.error({ err: error, method: req.method, path: req.path }, 'request failed'),
        ...(serves.has('mcp')
          ? {
              mount: (app) => {
                // Mounted while the HTTP server is built, before the hub exists: calls reach
                // the hub's dispatcher once it does (no request arrives before start).
                const late: Dispatcher = {
                  dispatch: (operation, request, context) =>
                    hub!.dispatcher.dispatch(operation, request, context),
                  subscribe: (listener) => hub!.dispatcher.subscribe(listener),
                  close: () => hub!.dispatcher.close(),
                };
                mcpEndpoint = mountMcp(app, late, {
                  path: config.mcpPath,
                  bodyLimit: sizeInBytes(config.bodyLimit),
                  onError: (error) => logger.warn({ err: error, protocol: 'mcp' }, 'MCP request failed'),
                });
              },
            }
          : {}),
      });
      adapters.push(http);
    }
    if (serves.has('mcp')) {
      // Mounted by the HTTP server above; listed so the hub logs it and closes its calls on stop.
      adapters.push({
        protocol: 'mcp',
        start: async () => undefined,
        stop: async () => {
          await mcpEndpoint?.close();
        },
      });
    }
    if (serves.has('ws')) {
      const wsLimits = { maxPayloadBytes: Math.max(DEFAULT_WS_MAX_PAYLOAD_BYTES, frameBytes) };
      ws = wsAttached
        ? new WsServerAdapter({ server: http!.server, path: config.wsPath, ...wsLimits })
        : new WsServerAdapter({ host: config.host, port: config.wsPort!, path: config.wsPath, ...wsLimits });
      adapters.push(ws);
    }
    if (serves.has('grpc')) {
      grpc = new GrpcServerAdapter({
        host: config.grpcHost ?? config.host,
        port: config.grpcPort,
        maxMessageBytes: Math.max(4 * 1024 * 1024, frameBytes),
        ...(grpcTls ? { tls: grpcTls } : {}),
      });
      adapters.push(grpc);
    }
    hub = new Hub({
      ...(config.hubId ? { hubId: config.hubId } : {}),
      backend,
      adapters,
      apiKeys: config.apiKeys,
      notifiers,
      heartbeat: { intervalMs: config.heartbeatIntervalMs, timeoutMs: config.heartbeatTimeoutMs },
      limits: { maxPayloadBytes: config.maxPayloadBytes, maxResultBytes: config.maxResultBytes },
      sweepIntervalMs: config.sweepIntervalMs,
      logger: logger.child({ component: 'hub' }),
    });
  } catch (error) {
    for (const notifier of notifiers) await notifier.close?.().catch(() => undefined);
    await backend.close();
    throw error;
  }
  const started = hub;
  try {
    await started.start();
  } catch (error) {
    await started.stop().catch(() => undefined);
    await backend.close().catch(() => undefined);
    throw error;
  }

  const urls: Partial<Record<HubProtocol, string>> = {};
  if (http) urls.http = http.address().url;
  if (ws) {
    if (wsAttached) {
      const { host, port } = http!.address();
      urls.ws = `ws://${host.includes(':') ? `[${host}]` : host}:${port}${config.wsPath}`;
    } else urls.ws = ws.address().url;
  }
  if (grpc) urls.grpc = `${grpcTls ? 'grpcs' : 'grpc'}://${grpc.address().address}`;
  if (http && serves.has('mcp')) urls.mcp = `${urls.http}${config.mcpPath}`;
  const url = urls.http ?? Object.values(urls)[0]!;
  logger.info(
    {
      url,
      urls,
      hubId: started.hubId,
      backend: backend.kind,
      protocols: config.protocols,
      auth: config.apiKeys.length > 0 ? 'api-keys' : 'open',
      notifiers: notifiers.map((n) => n.name),
    },
    'hub ready',
  );

  let stopping: Promise<void> | undefined;
  return {
    hub: started,
    url,
    urls,
    stop: () => {
      stopping ??= (async () => {
        try {
          await started.stop();
        } finally {
          await backend.close();
        }
      })();
      return stopping;
    },
  };
}

/** The gRPC TLS material the configuration names, read from its files. */
function readGrpcTls(config: HubConfig): GrpcServerTls | undefined {
  if (config.grpcTlsCert === undefined || config.grpcTlsKey === undefined) return undefined;
  const read = (setting: 'grpcTlsCert' | 'grpcTlsKey' | 'grpcTlsCa', file: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const why = code === 'ENOENT' ? 'no such file' : (error as Error).message;
      throw new ConfigError(`${setting}: cannot read ${file}: ${why}`, {
        cause: error,
        details: { setting },
      });
    }
  };
  return {
    cert: read('grpcTlsCert', config.grpcTlsCert),
    key: read('grpcTlsKey', config.grpcTlsKey),
    ...(config.grpcTlsCa !== undefined ? { ca: read('grpcTlsCa', config.grpcTlsCa) } : {}),
  };
}

/**
 * The Redis backend, loaded only when asked for: the in-memory path never loads ioredis. A
 * namespace the backend refuses is a `ConfigError` from `createRedisBackend` itself.
 */
async function createRedisBackendFor(config: HubConfig, url: string): Promise<Backend> {
  let redis: typeof import('@mcpmas/redis-queue');
  try {
    redis = await import('@mcpmas/redis-queue');
  } catch (error) {
    throw new ConfigError(
      `redisUrl is set but @mcpmas/redis-queue cannot be loaded: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return redis.createRedisBackend({
    url,
    namespace: config.namespace,
    queue: { resultTtlMs: config.resultTtlMs },
  });
}
