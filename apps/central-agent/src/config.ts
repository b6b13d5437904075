/**
 * `mcpmas-hub` configuration: the settings table (the one source of flags, variables,
 * `--help` and the README table) and the one zod schema that validates the merged result.
 */

import { ROUTES } from '@mcpmas/adapter-http';
import {
  type ConfigSpec,
  integer,
  type LoadedConfig,
  loadConfig,
  logLevelSetting,
  objectSchema,
  parseList,
  type SettingsTable,
} from '@mcpmas/cli-config';
import { IdSchema, SCOPES } from '@mcpmas/core';
import { z } from 'zod';
import { NotifiersConfigSchema } from './notifiers.js';

const DAY_MS = 86_400_000;

/** One API key as the config file holds it (the environment's `id:key:scopes` form parses to this). */
export const ApiKeySettingSchema = z
  .strictObject({
    id: IdSchema,
    key: z.string().min(8, 'must be at least 8 characters').optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/i, 'must be the 64 hex characters of a SHA-256 digest')
      .optional(),
    scopes: z
      .array(z.enum(SCOPES, { error: `must be one of ${SCOPES.join(', ')}` }))
      .min(1, 'must list at least one scope'),
  })
  .refine((k) => (k.key === undefined) !== (k.sha256 === undefined), {
    message: 'needs exactly one of key or sha256',
  });

/**
 * Parses `id:key:scope1+scope2,id2:sha256=<hex>:admin`, or a JSON array of
 * `{ id, key | sha256, scopes }` when the text starts with `[`. The id and the key end at the
 * first and second colon; the rest is the scope list (scopes such as `task:read` hold colons).
 */
export function parseApiKeys(text: string): unknown[] {
  if (text.trim().startsWith('[')) return parseList(text);
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry, i) => {
      const first = entry.indexOf(':');
      const second = first < 0 ? -1 : entry.indexOf(':', first + 1);
      const id = entry.slice(0, Math.max(first, 0));
      const secret = entry.slice(first + 1, Math.max(second, 0));
      const scopes = second < 0 ? '' : entry.slice(second + 1);
      if (!id || !secret || !scopes) {
        throw new Error(`entry ${i + 1} must look like id:key:scope1+scope2 (or id:sha256=<hex>:scopes)`);
      }
      const list = scopes.split('+').map((scope) => scope.trim());
      return secret.startsWith('sha256=')
        ? { id, sha256: secret.slice('sha256='.length), scopes: list }
        : { id, key: secret, scopes: list };
    });
}

const sizePattern = /^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i;

/** `'512kb'`, `'1mb'` or `'1048576'` in bytes (1 kb = 1024 bytes, as express reads it). */
export function sizeInBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(text.trim());
  if (!match) throw new Error(`not a size: ${text}`);
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(match[2] ?? 'b').toLowerCase() as 'b'];
  return Math.floor(Number(match[1]) * unit);
}

/** The protocols one hub process can serve. */
export const HUB_PROTOCOLS = ['http', 'ws', 'grpc', 'mcp'] as const;
/** @see HUB_PROTOCOLS */
export type HubProtocol = (typeof HUB_PROTOCOLS)[number];

/** First path segments of the REST API, which the MCP endpoint may not shadow. */
const RESERVED_SEGMENTS = new Set([
  ...Object.values(ROUTES).map((route) => route.path.split('/')[1]!),
  'healthz',
  'metrics',
]);

/** A URL path such as `/ws`. */
function urlPath() {
  return z
    .string({ error: 'must be a path' })
    .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/, 'must be a URL path starting with "/", e.g. /ws')
    .refine((path) => path !== '/', 'must not be "/"');
}

/** A file path (read when the hub starts). */
function filePath() {
  return z.string({ error: 'must be a file path' }).trim().min(1, 'must not be empty');
}

/** Every setting of `mcpmas-hub`. */
export const hubSettings = {
  host: {
    kind: 'string',
    placeholder: '<address>',
    schema: z.string().trim().min(1, 'must not be empty').default('127.0.0.1'),
    description:
      'Interface the servers listen on (HTTP, and WebSocket and gRPC unless set apart); 0.0.0.0 or :: for all.',
  },
  port: {
    kind: 'integer',
    schema: integer(0, 65_535).default(8080),
    description: 'HTTP port; 0 picks a free one (the "hub ready" log line shows the URL).',
  },
  protocols: {
    kind: 'list',
    placeholder: '<http,ws,grpc,mcp>',
    schema: z
      .array(z.enum(HUB_PROTOCOLS, { error: `must be one of ${HUB_PROTOCOLS.join(', ')}` }))
      .min(1, 'must name at least one protocol')
      .refine((list) => new Set(list).size === list.length, 'must not name a protocol twice')
      .default([...HUB_PROTOCOLS]),
    description:
      'Protocols served, comma-separated: http (REST on port), ws (WebSocket at wsPath on the HTTP server, or on wsPort), grpc (on grpcPort), mcp (Streamable HTTP at mcpPath on the HTTP server).',
  },
  wsPath: {
    kind: 'string',
    placeholder: '<path>',
    schema: urlPath().default('/ws'),
    description: 'Path of the WebSocket endpoint (ws://<host>:<port><wsPath>).',
  },
  wsPort: {
    kind: 'integer',
    schema: integer(0, 65_535).optional(),
    defaultText: '(none: on the HTTP server)',
    description:
      'Serve WebSocket on a port of its own instead of the HTTP server; 0 picks a free one. Required for ws without http.',
  },
  mcpPath: {
    kind: 'string',
    placeholder: '<path>',
    schema: urlPath()
      .refine((path) => !RESERVED_SEGMENTS.has(path.split('/')[1] ?? ''), {
        message: `must not start with a path the REST API uses (/${[...RESERVED_SEGMENTS].join(', /')})`,
      })
      .default('/mcp'),
    description: 'Path of the MCP Streamable HTTP endpoint on the HTTP server.',
  },
  grpcHost: {
    kind: 'string',
    placeholder: '<address>',
    schema: z.string().trim().min(1, 'must not be empty').optional(),
    defaultText: '(the host setting)',
    description: 'Interface the gRPC server listens on.',
  },
  grpcPort: {
    kind: 'integer',
    schema: integer(0, 65_535).default(50_051),
    description: 'gRPC port; 0 picks a free one.',
  },
  grpcTlsCert: {
    kind: 'string',
    placeholder: '<file.pem>',
    schema: filePath().optional(),
    defaultText: '(none: plaintext gRPC)',
    description:
      'gRPC TLS: PEM certificate chain file; with grpcTlsKey the gRPC server speaks TLS (grpcs://).',
  },
  grpcTlsKey: {
    kind: 'string',
    placeholder: '<file.pem>',
    schema: filePath().optional(),
    defaultText: '(none)',
    description: 'gRPC TLS: PEM private key file of grpcTlsCert.',
  },
  grpcTlsCa: {
    kind: 'string',
    placeholder: '<file.pem>',
    schema: filePath().optional(),
    defaultText: '(none: no client certificates)',
    description:
      'gRPC TLS: PEM CA file; when set, clients must present a certificate it signed (mutual TLS).',
  },
  bodyLimit: {
    kind: 'string',
    placeholder: '<size>',
    schema: z
      .preprocess(
        (v) => (typeof v === 'number' ? String(v) : v),
        z
          .string({ error: 'must be a size' })
          .regex(sizePattern, 'must be a size such as 512kb, 1mb or 1048576'),
      )
      .default('1mb'),
    description: 'Largest HTTP request body.',
  },
  apiKeys: {
    kind: 'list',
    placeholder: '<id:key:scopes,…>',
    parse: parseApiKeys,
    secret: true,
    schema: z
      .array(ApiKeySettingSchema)
      .superRefine((keys, ctx) => {
        const seen = new Set<string>();
        keys.forEach((k, i) => {
          if (seen.has(k.id))
            ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `"${k.id}" is used twice` });
          seen.add(k.id);
        });
      })
      .default([]),
    defaultText: '(none: no authentication)',
    description: `API keys as id:key:scope1+scope2 (key may be sha256=<hex>), comma-separated, or a JSON array of { id, key | sha256, scopes }. Scopes: ${SCOPES.join(', ')}.`,
  },
  heartbeatIntervalMs: {
    kind: 'integer',
    schema: integer(100, DAY_MS).default(5000),
    description: 'How often agents are told to heartbeat.',
  },
  heartbeatTimeoutMs: {
    kind: 'integer',
    schema: integer(100, DAY_MS).default(15_000),
    description:
      'Silence after which an agent is evicted and its tasks requeued; must exceed heartbeatIntervalMs.',
  },
  sweepIntervalMs: {
    kind: 'integer',
    schema: integer(10, 600_000).default(1000),
    description:
      'How often the leader evicts silent agents, expires leases, promotes delayed tasks and trims results.',
  },
  maxPayloadBytes: {
    kind: 'integer',
    schema: integer(1, 1024 ** 3).default(1024 * 1024),
    description: 'Largest task payload (JSON bytes).',
  },
  maxResultBytes: {
    kind: 'integer',
    schema: integer(1, 1024 ** 3).default(1024 * 1024),
    description: 'Largest task result (JSON bytes).',
  },
  resultTtlMs: {
    kind: 'integer',
    schema: integer(1000, 30 * DAY_MS).default(3_600_000),
    description: 'How long finished tasks and their results are kept.',
  },
  notifiers: {
    kind: 'json',
    placeholder: '<json array>',
    secret: true,
    schema: NotifiersConfigSchema.default([]),
    defaultText: '(none)',
    description:
      'Where lifecycle events (agent.evicted, task.dead, …) are delivered: a JSON array of channels, each { "type": "webhook" | "kafka" | "rabbitmq" | "email" | "im", … }; usually set in the config file (see src/notifiers.ts).',
  },
  redisUrl: {
    kind: 'string',
    placeholder: '<url>',
    env: ['MCPMAS_REDIS_URL', 'REDIS_URL'],
    schema: z
      .string()
      .regex(
        /^rediss?(\+sentinel|\+cluster)?:\/\/\S*$/i,
        'must be a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL',
      )
      .optional(),
    defaultText: '(none: in-memory backend, one hub)',
    description:
      'Redis to share with other hubs; without it the hub keeps everything in memory. redis://host:port[/db], redis+sentinel://host:port[,host:port…]/<master name>[/db] or redis+cluster://host:port[,host:port…] (rediss… for TLS).',
  },
  namespace: {
    kind: 'string',
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 letters, digits or _ . : -')
      .default('mcpmas'),
    description: 'Redis key namespace; hubs sharing one form one deployment (Redis only).',
  },
  hubId: {
    kind: 'string',
    placeholder: '<id>',
    schema: IdSchema.optional(),
    defaultText: '<hostname>-<random>',
    description: 'Unique name of this hub process (logs, leader election).',
  },
  logLevel: logLevelSetting(),
} satisfies SettingsTable;

/** The one schema of the hub's configuration. */
export const HubConfigSchema = objectSchema(hubSettings).superRefine((config, ctx) => {
  const issue = (key: keyof typeof hubSettings, message: string) =>
    ctx.addIssue({ code: 'custom', path: [key], message });
  if (config.heartbeatTimeoutMs <= config.heartbeatIntervalMs) {
    issue('heartbeatTimeoutMs', `must be greater than heartbeatIntervalMs (${config.heartbeatIntervalMs})`);
  }
  const serves = new Set(config.protocols);
  if (serves.has('mcp') && !serves.has('http')) {
    issue('protocols', 'mcp is served on the HTTP server: add http, or remove mcp');
  }
  if (serves.has('ws') && !serves.has('http') && config.wsPort === undefined) {
    issue(
      'wsPort',
      'is required when protocols has ws without http (WebSocket then needs a port of its own)',
    );
  }
  // Two listeners on one port of one interface cannot both bind; 0 means a free port each.
  const grpcHost = config.grpcHost ?? config.host;
  if (serves.has('http') && serves.has('ws') && config.wsPort !== undefined && config.wsPort !== 0) {
    if (config.wsPort === config.port) issue('wsPort', `must differ from port (${config.port})`);
  }
  if (serves.has('grpc') && config.grpcPort !== 0 && grpcHost === config.host) {
    if (serves.has('http') && config.grpcPort === config.port) {
      issue('grpcPort', `must differ from port (${config.port})`);
    }
    if (serves.has('ws') && config.grpcPort === config.wsPort) {
      issue('grpcPort', `must differ from wsPort (${config.wsPort})`);
    }
  }
  if ((config.grpcTlsCert === undefined) !== (config.grpcTlsKey === undefined)) {
    issue(
      config.grpcTlsCert === undefined ? 'grpcTlsCert' : 'grpcTlsKey',
      'grpcTlsCert and grpcTlsKey go together: set both for TLS, or neither',
    );
  }
  if (config.grpcTlsCa !== undefined && config.grpcTlsCert === undefined) {
    issue('grpcTlsCa', 'needs grpcTlsCert and grpcTlsKey (mutual TLS is on top of TLS)');
  }
});

/** A validated hub configuration. */
export type HubConfig = z.output<typeof HubConfigSchema>;

/** What the loader needs to know about the hub. */
export const hubConfigSpec: ConfigSpec<HubConfig> = {
  command: 'mcpmas-hub',
  summary:
    'Runs an mcpmas hub (central agent): one process serving clients and model agents over HTTP/REST, WebSocket, gRPC and MCP, with the task queue and the agent registry. In memory by default; shared through Redis when redisUrl is set.',
  settings: hubSettings,
  schema: HubConfigSchema,
};

/**
 * Loads the hub's configuration from the command line, the environment, `.env` in `cwd` (or
 * `--env-file`) and `--config`. Throws a `ConfigError` naming every bad setting.
 *
 * @example
 * const { config } = loadHubConfig(process.argv.slice(2), process.env, process.cwd());
 */
export function loadHubConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): LoadedConfig<HubConfig> {
  return loadConfig(hubConfigSpec, argv, env, cwd);
}
