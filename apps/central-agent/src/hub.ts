/**
 * {@link startHub}: composes the packages a configuration asks for — a backend (memory, or
 * Redis when `redisUrl` is set), the HTTP server and the hub engine — and starts them.
 */

import { HttpServerAdapter } from '@mcpmas/adapter-http';
import { type Backend, ConfigError, createMemoryBackend, type Notifier } from '@mcpmas/core';
import { Hub } from '@mcpmas/hub';
import type { Logger } from 'pino';
import type { HubConfig } from './config.js';
import { createNotifiers } from './notifiers.js';
import { createLogger } from './runtime.js';

/** A started hub. */
export interface RunningHub {
  hub: Hub;
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Stops the hub gracefully and closes the backend. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@link startHub}. */
export interface StartHubOptions {
  /** @default a pino logger at `config.logLevel` on stdout */
  logger?: Logger;
}

/**
 * Starts a hub from a validated configuration and logs one `hub ready` line with its URL.
 *
 * @example
 * const { config } = loadHubConfig(['--port', '0'], {}, process.cwd());
 * const running = await startHub(config);
 * console.log(running.url);
 * await running.stop();
 */
export async function startHub(config: HubConfig, options: StartHubOptions = {}): Promise<RunningHub> {
  const logger = options.logger ?? createLogger('mcpmas-hub', config.logLevel);
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
  const http = new HttpServerAdapter({
    host: config.host,
    port: config.port,
    bodyLimit: config.bodyLimit,
    metrics: () => hub!.metricsText(),
    health: () => hub!.health(),
    onError: (error, req) =>
      logger.error({ err: error, method: req.method, path: req.path }, 'request failed'),
  });
  try {
    hub = new Hub({
      ...(config.hubId ? { hubId: config.hubId } : {}),
      backend,
      adapters: [http],
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
  const url = http.address().url;
  logger.info(
    {
      url,
      hubId: started.hubId,
      backend: backend.kind,
      protocols: ['http'],
      auth: config.apiKeys.length > 0 ? 'api-keys' : 'open',
      notifiers: notifiers.map((n) => n.name),
    },
    'hub ready',
  );

  let stopping: Promise<void> | undefined;
  return {
    hub: started,
    url,
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
