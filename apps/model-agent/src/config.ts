/**
 * `mcpmas-agent` configuration: the settings table (the one source of flags, variables,
 * `--help` and the README table) and the one zod schema that validates the merged result.
 */
import { hostname } from 'node:os';
import {
  type ConfigSpec,
  httpUrl,
  integer,
  type LoadedConfig,
  loadConfig,
  logLevelSetting,
  objectSchema,
  type SettingsTable,
} from '@mcpmas/cli-config';
import { IdSchema, MAX_WAIT_MS, type Skill, SkillSchema } from '@mcpmas/core';
import { z } from 'zod';
import { AGENT_PROTOCOLS, type HubEndpoint, parseHubUrl } from './endpoints.js';

/** The built-in handlers an agent can run. */
export const HANDLERS = ['echo', 'openai'] as const;
/** @see HANDLERS */
export type HandlerName = (typeof HANDLERS)[number];

/** The skill an agent declares when none are configured, per handler. */
export const DEFAULT_SKILL: Record<HandlerName, string> = { echo: 'echo', openai: 'chat' };

const HOUR_MS = 3_600_000;

/** A skill given as a bare id (`echo`) or as the full object. */
const SkillSettingSchema = z.union([IdSchema.transform((id): Skill => ({ id, name: id })), SkillSchema], {
  error: 'must be a skill id or an object { id, name, description?, tags? }',
});

/** Every setting of `mcpmas-agent`. */
export const agentSettings = {
  hubUrl: {
    kind: 'list',
    placeholder: '<url,url,…>',
    schema: z
      .array(z.string({ error: 'must be a URL' }).trim().min(1, 'must not be empty'), {
        error: 'must be a URL or a list of URLs',
      })
      .min(1, 'must name at least one hub URL')
      .max(16, 'must name at most 16 hub URLs')
      .default(['http://127.0.0.1:8080']),
    description:
      'Hub to connect to: http(s)://host:port (HTTP), ws(s)://host:port/ws (WebSocket), grpc(s)://host:port (gRPC), http(s)://host:port/mcp (MCP). Several, comma-separated, are used in order of preference: the agent fails over to the next when one is down, and back when it recovers.',
  },
  protocol: {
    kind: 'string',
    placeholder: `<auto|${AGENT_PROTOCOLS.join('|')}>`,
    schema: z
      .enum(['auto', ...AGENT_PROTOCOLS], { error: `must be one of auto, ${AGENT_PROTOCOLS.join(', ')}` })
      .default('auto'),
    description:
      'Protocol of the hub URLs; auto reads it from each URL. Set mcp for an MCP endpoint at a path other than /mcp.',
  },
  requestTimeoutMs: {
    kind: 'integer',
    schema: integer(100, HOUR_MS).default(30_000),
    description:
      'Longest time one call to the hub may take, long-poll waits excepted; also how long a dead endpoint takes to be noticed.',
  },
  failoverProbeMs: {
    kind: 'integer',
    schema: integer(100, HOUR_MS).default(2000),
    description: 'With several hub URLs: how often endpoints that are down are probed to move back to them.',
  },
  grpcTlsCa: {
    kind: 'string',
    placeholder: '<file.pem>',
    schema: z.string().trim().min(1, 'must not be empty').optional(),
    defaultText: '(the system roots)',
    description:
      'grpcs:// URLs: PEM file of the CA to trust (a private CA or a self-signed hub certificate).',
  },
  apiKey: {
    kind: 'string',
    placeholder: '<key>',
    secret: true,
    schema: z.string().min(1, 'must not be empty').optional(),
    defaultText: '(none)',
    description: 'API key sent to the hub (needs the agent:connect scope) when the hub requires keys.',
  },
  name: {
    kind: 'string',
    env: ['MCPMAS_AGENT_NAME'],
    schema: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional(),
    defaultText: 'mcpmas-agent@<hostname>',
    description: 'Display name of the agent.',
  },
  agentId: {
    kind: 'string',
    placeholder: '<id>',
    schema: IdSchema.optional(),
    defaultText: '(chosen by the hub)',
    description: 'Fixed agent id, to keep one identity across restarts.',
  },
  skills: {
    kind: 'list',
    placeholder: '<id,id,…>',
    schema: z.array(SkillSettingSchema).min(1, 'must list at least one skill').max(256).optional(),
    defaultText: `(${DEFAULT_SKILL.echo} with handler echo, ${DEFAULT_SKILL.openai} with handler openai)`,
    description:
      'Capabilities this agent runs: skill ids, comma-separated, or a JSON array of ids or { id, name, description, tags }.',
  },
  handler: {
    kind: 'string',
    placeholder: `<${HANDLERS.join('|')}>`,
    schema: z.enum(HANDLERS, { error: `must be one of ${HANDLERS.join(', ')}` }).default('echo'),
    description: 'What runs each task: echo returns the payload; openai calls a chat-completions API.',
  },
  concurrency: {
    kind: 'integer',
    schema: integer(1, 100).default(1),
    description: 'Tasks run at once.',
  },
  pollWaitMs: {
    kind: 'integer',
    schema: integer(0, MAX_WAIT_MS).default(20_000),
    description: 'Long-poll wait of each request for work.',
  },
  drainTimeoutMs: {
    kind: 'integer',
    schema: integer(0, HOUR_MS).default(30_000),
    description: 'On SIGTERM/SIGINT, how long running tasks may finish before they are aborted and requeued.',
  },
  echoDelayMs: {
    kind: 'integer',
    schema: integer(0, HOUR_MS).default(0),
    description: 'echo handler: pretend each task takes this long.',
  },
  openaiBaseUrl: {
    kind: 'string',
    placeholder: '<url>',
    schema: httpUrl().default('https://api.openai.com/v1'),
    description: 'openai handler: API base URL up to the version (any OpenAI-compatible server).',
  },
  openaiModel: {
    kind: 'string',
    placeholder: '<model>',
    schema: z.string().min(1, 'must not be empty').optional(),
    defaultText: '(none; required with handler openai)',
    description: 'openai handler: model used when a task names none.',
  },
  openaiApiKey: {
    kind: 'string',
    placeholder: '<key>',
    env: ['MCPMAS_OPENAI_API_KEY', 'OPENAI_API_KEY'],
    secret: true,
    schema: z.string().min(1, 'must not be empty').optional(),
    defaultText: '(none)',
    description: 'openai handler: API key (local servers usually need none).',
  },
  openaiTimeoutMs: {
    kind: 'integer',
    schema: integer(100, HOUR_MS).default(60_000),
    description: 'openai handler: longest time one completion may take.',
  },
  openaiMaxTokens: {
    kind: 'integer',
    schema: integer(1, 10_000_000).optional(),
    defaultText: "(the server's)",
    description: 'openai handler: max_tokens when a task names none.',
  },
  openaiTemperature: {
    kind: 'number',
    schema: z
      .number({ error: 'must be a number' })
      .min(0, 'must be at least 0')
      .max(2, 'must be at most 2')
      .optional(),
    defaultText: "(the server's)",
    description: 'openai handler: temperature (0-2) when a task names none.',
  },
  logLevel: logLevelSetting(),
} satisfies SettingsTable;

/** The one schema of the agent's configuration; fills the derived defaults (name, skills). */
export const AgentConfigSchema = objectSchema(agentSettings)
  .superRefine((config, ctx) => {
    if (config.handler === 'openai' && config.openaiModel === undefined) {
      ctx.addIssue({ code: 'custom', path: ['openaiModel'], message: 'required when handler is openai' });
    }
    config.hubUrl.forEach((url, i) => {
      try {
        parseHubUrl(url, config.protocol);
      } catch (error) {
        const path = config.hubUrl.length > 1 ? ['hubUrl', i] : ['hubUrl'];
        ctx.addIssue({ code: 'custom', path, message: (error as Error).message });
      }
    });
  })
  .transform((config) => ({
    ...config,
    name: config.name ?? `mcpmas-agent@${hostname()}`,
    skills: config.skills ?? [{ id: DEFAULT_SKILL[config.handler], name: DEFAULT_SKILL[config.handler] }],
  }));

/** The endpoints a validated configuration's `hubUrl` names, in order of preference. */
export function hubEndpoints(config: Pick<AgentConfig, 'hubUrl' | 'protocol'>): HubEndpoint[] {
  return config.hubUrl.map((url) => parseHubUrl(url, config.protocol));
}

/** A validated agent configuration. */
export type AgentConfig = z.output<typeof AgentConfigSchema>;

/** What the loader needs to know about the agent. */
export const agentConfigSpec: ConfigSpec<AgentConfig> = {
  command: 'mcpmas-agent',
  summary:
    'Runs an mcpmas model agent: connects to a hub over HTTP, WebSocket, gRPC or MCP (failing over between several hub URLs in order of preference), registers its skills, heartbeats, pulls tasks and runs them with the echo or the OpenAI-compatible chat handler. Stops gracefully on SIGTERM/SIGINT.',
  settings: agentSettings,
  schema: AgentConfigSchema,
};

/**
 * Loads the agent's configuration from the command line, the environment, `.env` in `cwd`
 * (or `--env-file`) and `--config`. Throws a `ConfigError` naming every bad setting.
 *
 * @example
 * const { config } = loadAgentConfig(['--hub-url', 'http://127.0.0.1:8080'], process.env, process.cwd());
 */
export function loadAgentConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): LoadedConfig<AgentConfig> {
  return loadConfig(agentConfigSpec, argv, env, cwd);
}
