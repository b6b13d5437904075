import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  agentConfigSpec,
  agentSettings,
  type HubEndpoint,
  helpText,
  hubEndpoints,
  loadAgentConfig,
  type ProtocolSetting,
  parseHubUrl,
  settingsMarkdown,
} from '../src/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmas-agent-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const writeDotenv = (text: string) => writeFileSync(join(dir, '.env'), text);
const writeConfig = (value: unknown) => {
  const file = join(dir, 'agent.json');
  writeFileSync(file, JSON.stringify(value));
  return file;
};

function errorOf(argv: string[], env: Record<string, string> = {}): string {
  try {
    loadAgentConfig(argv, env, dir);
  } catch (error) {
    expect((error as { code?: string }).code).toBe('CONFIG');
    return (error as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('loadAgentConfig: sources and precedence', () => {
  it('uses the defaults when nothing is set, with the derived name and skills', () => {
    const { config } = loadAgentConfig([], {}, dir);
    expect(config).toEqual({
      hubUrl: ['http://127.0.0.1:8080'],
      protocol: 'auto',
      requestTimeoutMs: 30_000,
      failoverProbeMs: 2000,
      name: `mcpmas-agent@${hostname()}`,
      skills: [{ id: 'echo', name: 'echo' }],
      handler: 'echo',
      concurrency: 1,
      pollWaitMs: 20_000,
      drainTimeoutMs: 30_000,
      echoDelayMs: 0,
      openaiBaseUrl: 'https://api.openai.com/v1',
      openaiTimeoutMs: 60_000,
      logLevel: 'info',
    });
  });

  it('flags win over the environment, which wins over .env, which wins over the config file', () => {
    const file = writeConfig({ skills: ['from-file'], concurrency: 4, name: 'file-name', pollWaitMs: 4000 });
    writeDotenv('MCPMAS_SKILLS=from-dotenv\nMCPMAS_CONCURRENCY=3\nMCPMAS_AGENT_NAME=dotenv-name\n');
    const env = { MCPMAS_SKILLS: 'from-env', MCPMAS_CONCURRENCY: '2' };
    const { config, sources } = loadAgentConfig(['-c', file, '--skills', 'from-flag'], env, dir);
    expect(config).toMatchObject({
      skills: [{ id: 'from-flag', name: 'from-flag' }],
      concurrency: 2,
      name: 'dotenv-name',
      pollWaitMs: 4000,
    });
    expect(sources.name).toMatchObject({ kind: 'dotenv', name: 'MCPMAS_AGENT_NAME' });
    expect(loadAgentConfig(['-c', file], env, dir).config.skills[0]!.id).toBe('from-env');
    expect(loadAgentConfig(['-c', file], {}, dir).config.skills[0]!.id).toBe('from-dotenv');
    rmSync(join(dir, '.env'));
    expect(loadAgentConfig(['-c', file], {}, dir).config.skills[0]!.id).toBe('from-file');
  });

  it('reads skills as a comma list, or as JSON ids and objects', () => {
    expect(loadAgentConfig(['--skills', ' summarise , translate '], {}, dir).config.skills).toEqual([
      { id: 'summarise', name: 'summarise' },
      { id: 'translate', name: 'translate' },
    ]);
    const skill = { id: 'chat', name: 'Chat', description: 'Talks', tags: ['llm'] };
    const file = writeConfig({ skills: ['echo', skill] });
    expect(loadAgentConfig(['--config', file], {}, dir).config.skills).toEqual([
      { id: 'echo', name: 'echo' },
      skill,
    ]);
    expect(loadAgentConfig([], { MCPMAS_SKILLS: JSON.stringify([skill]) }, dir).config.skills).toEqual([
      skill,
    ]);
  });

  it('the openai handler declares "chat" by default and takes OPENAI_API_KEY', () => {
    const env = { MCPMAS_HANDLER: 'openai', MCPMAS_OPENAI_MODEL: 'llama3.2', OPENAI_API_KEY: 'sk-1' };
    expect(loadAgentConfig([], env, dir).config).toMatchObject({
      handler: 'openai',
      skills: [{ id: 'chat', name: 'chat' }],
      openaiModel: 'llama3.2',
      openaiApiKey: 'sk-1',
    });
    const both = { ...env, MCPMAS_OPENAI_API_KEY: 'sk-2' };
    expect(loadAgentConfig([], both, dir).config.openaiApiKey).toBe('sk-2');
    expect(loadAgentConfig(['--openai-temperature', '0.7'], env, dir).config.openaiTemperature).toBe(0.7);
  });
});

describe('hub URLs: one protocol each, several in order of preference', () => {
  it.each([
    ['http://127.0.0.1:8080', 'auto', { protocol: 'http', target: 'http://127.0.0.1:8080/' }],
    ['https://hub.example.com/api', 'auto', { protocol: 'http', target: 'https://hub.example.com/api' }],
    ['http://127.0.0.1:8080/mcp', 'auto', { protocol: 'mcp', target: 'http://127.0.0.1:8080/mcp' }],
    ['http://127.0.0.1:8080/tools', 'mcp', { protocol: 'mcp', target: 'http://127.0.0.1:8080/tools' }],
    ['mcp+https://hub.example.com/x', 'auto', { protocol: 'mcp', target: 'https://hub.example.com/x' }],
    ['ws://127.0.0.1:8080/ws', 'auto', { protocol: 'ws', target: 'ws://127.0.0.1:8080/ws' }],
    ['wss://hub.example.com/ws', 'ws', { protocol: 'ws', target: 'wss://hub.example.com/ws' }],
    ['grpc://127.0.0.1:50051', 'auto', { protocol: 'grpc', target: '127.0.0.1:50051' }],
    ['grpc://hub.internal', 'grpc', { protocol: 'grpc', target: 'hub.internal:50051' }],
    ['grpcs://hub.example.com:443', 'auto', { protocol: 'grpc', target: 'hub.example.com:443', tls: true }],
  ] as Array<[string, ProtocolSetting, Partial<HubEndpoint>]>)(
    '%s (protocol %s)',
    (url, protocol, expected) => {
      expect(parseHubUrl(url, protocol)).toEqual({ url, ...expected });
    },
  );

  it('takes a comma list or a JSON array, and keeps the order', () => {
    const { config } = loadAgentConfig(['--hub-url', 'grpc://a:1, ws://b:2/ws ,http://c:3/mcp'], {}, dir);
    expect(hubEndpoints(config).map((e) => e.protocol)).toEqual(['grpc', 'ws', 'mcp']);
    const file = writeConfig({ hubUrl: ['ws://b:2/ws', 'http://c:3'] });
    expect(loadAgentConfig(['--config', file], {}, dir).config.hubUrl).toEqual(['ws://b:2/ws', 'http://c:3']);
    const single = writeConfig({ hubUrl: 'grpcs://d:4' });
    expect(loadAgentConfig(['--config', single], {}, dir).config.hubUrl).toEqual(['grpcs://d:4']);
  });
});

describe('loadAgentConfig: bad values are refused, naming the setting', () => {
  it.each([
    [['--hub-url', 'ftp://hub'], {}, 'hubUrl (--hub-url): ftp://hub: unknown scheme ftp://'],
    [[], { MCPMAS_HUB_URL: 'not a url' }, 'hubUrl (MCPMAS_HUB_URL): "not a url" is not a URL'],
    [['--hub-url', ','], {}, 'hubUrl (--hub-url): must name at least one hub URL'],
    [
      ['--hub-url', 'http://a:1,grpc://b:2/x'],
      {},
      'hubUrl (--hub-url): [1]: grpc://b:2/x: a gRPC URL is grpc://host:port, without a path',
    ],
    [
      ['--hub-url', 'ws://a:1/ws', '--protocol', 'grpc'],
      {},
      'hubUrl (--hub-url): ws://a:1/ws is a ws URL, but protocol is grpc',
    ],
    [
      ['--hub-url', 'http://a:1', '--protocol', 'ws'],
      {},
      'hubUrl (--hub-url): http://a:1 is an http URL, but protocol is ws',
    ],
    [['--protocol', 'smtp'], {}, 'protocol (--protocol): must be one of auto, http, ws, grpc, mcp'],
    [['--request-timeout-ms', '10'], {}, 'requestTimeoutMs (--request-timeout-ms): must be at least 100'],
    [['--handler', 'gpt'], {}, 'handler (--handler): must be one of echo, openai'],
    [
      [],
      { MCPMAS_HANDLER: 'openai' },
      'openaiModel (--openai-model / MCPMAS_OPENAI_MODEL): required when handler is openai',
    ],
    [['--concurrency', '0'], {}, 'concurrency (--concurrency): must be at least 1'],
    [['--concurrency', 'two'], {}, 'concurrency (--concurrency): must be an integer, got "two"'],
    [['--poll-wait-ms', '400000'], {}, 'pollWaitMs (--poll-wait-ms): must be at most 300000'],
    [['--skills', ','], {}, 'skills (--skills): must list at least one skill'],
    [['--skills', 'has space'], {}, 'skills (--skills): [0]: must be a skill id'],
    [['--agent-id', '-x'], {}, 'needs a value'],
    [['--agent-id=-x'], {}, 'agentId (--agent-id): must start with a letter or digit'],
    [
      [],
      { MCPMAS_OPENAI_TEMPERATURE: '3' },
      'openaiTemperature (MCPMAS_OPENAI_TEMPERATURE): must be at most 2',
    ],
    [
      [],
      { MCPMAS_OPENAI_TEMPERATURE: 'warm' },
      'openaiTemperature (MCPMAS_OPENAI_TEMPERATURE): must be a number',
    ],
    [
      ['--openai-base-url', 'localhost:11434'],
      {},
      'openaiBaseUrl (--openai-base-url): must be an http:// or https:// URL',
    ],
    [['--openai-max-tokens', '0'], {}, 'openaiMaxTokens (--openai-max-tokens): must be at least 1'],
    [['--log-level', 'chatty'], {}, 'logLevel (--log-level): must be one of'],
    [['--hub', 'http://x'], {}, 'unknown flag --hub (did you mean --hub-url?)'],
  ] as Array<[string[], Record<string, string>, string]>)('%j %j', (argv, env, expected) => {
    expect(errorOf(argv, env)).toContain(expected);
  });

  it('refuses unknown config-file keys and bad skill objects there', () => {
    const file = writeConfig({ skils: ['echo'] });
    expect(errorOf(['--config', file])).toContain(
      `unknown setting "skils" in ${file} (did you mean "skills"?)`,
    );
    const bad = writeConfig({ skills: [{ id: 'x' }] });
    expect(errorOf(['--config', bad])).toContain(
      `skills ("skills" in ${bad}): [0]: must be a skill id or an object`,
    );
  });
});

describe('--help', () => {
  it('lists every setting with its flag, environment variables and default', () => {
    const help = helpText(agentConfigSpec).split('\n');
    const expected: Array<[string, string, string]> = [
      ['--hub-url <url,url,…>', 'MCPMAS_HUB_URL', 'default: http://127.0.0.1:8080'],
      ['--protocol <auto|http|ws|grpc|mcp>', 'MCPMAS_PROTOCOL', 'default: auto'],
      ['--request-timeout-ms <int>', 'MCPMAS_REQUEST_TIMEOUT_MS', 'default: 30000'],
      ['--failover-probe-ms <int>', 'MCPMAS_FAILOVER_PROBE_MS', 'default: 2000'],
      ['--grpc-tls-ca <file.pem>', 'MCPMAS_GRPC_TLS_CA', 'default: (the system roots)'],
      ['--api-key <key>', 'MCPMAS_API_KEY', 'default: (none)'],
      ['--name <text>', 'MCPMAS_AGENT_NAME', 'default: mcpmas-agent@<hostname>'],
      ['--agent-id <id>', 'MCPMAS_AGENT_ID', 'default: (chosen by the hub)'],
      ['--skills', 'MCPMAS_SKILLS', 'default: (echo with handler echo, chat with handler openai)'],
      ['--handler <echo|openai>', 'MCPMAS_HANDLER', 'default: echo'],
      ['--concurrency <int>', 'MCPMAS_CONCURRENCY', 'default: 1'],
      ['--poll-wait-ms <int>', 'MCPMAS_POLL_WAIT_MS', 'default: 20000'],
      ['--drain-timeout-ms <int>', 'MCPMAS_DRAIN_TIMEOUT_MS', 'default: 30000'],
      ['--echo-delay-ms <int>', 'MCPMAS_ECHO_DELAY_MS', 'default: 0'],
      ['--openai-base-url <url>', 'MCPMAS_OPENAI_BASE_URL', 'default: https://api.openai.com/v1'],
      ['--openai-model <model>', 'MCPMAS_OPENAI_MODEL', 'default: (none; required with handler openai)'],
      ['--openai-api-key <key>', 'MCPMAS_OPENAI_API_KEY, OPENAI_API_KEY', 'default: (none)'],
      ['--openai-timeout-ms <int>', 'MCPMAS_OPENAI_TIMEOUT_MS', 'default: 60000'],
      ['--openai-max-tokens <int>', 'MCPMAS_OPENAI_MAX_TOKENS', "default: (the server's)"],
      ['--openai-temperature <num>', 'MCPMAS_OPENAI_TEMPERATURE', "default: (the server's)"],
      ['--log-level', 'MCPMAS_LOG_LEVEL', 'default: info'],
    ];
    // Every setting of the table is in the list above: a new setting needs a line here too.
    expect(expected).toHaveLength(Object.keys(agentSettings).length);
    for (const [flag, env, defaultText] of expected) {
      const at = help.findIndex((line) => line.trim().startsWith(flag));
      expect(at).toBeGreaterThan(-1);
      expect(help[at + 2]).toContain(`env: ${env} `);
      expect(help[at + 2]).toContain(defaultText);
    }
  });

  it('the README settings table is the generated one', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const readme = readFileSync(join(here, '..', 'README.md'), 'utf8');
    expect(readme).toContain(settingsMarkdown(agentSettings));
  });
});
