import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { agentConfigSpec, agentSettings, helpText, loadAgentConfig, settingsMarkdown } from '../src/index.js';

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
      hubUrl: 'http://127.0.0.1:8080',
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

describe('loadAgentConfig: bad values are refused, naming the setting', () => {
  it.each([
    [['--hub-url', 'ftp://hub'], {}, 'hubUrl (--hub-url): must be an http:// or https:// URL'],
    [[], { MCPMAS_HUB_URL: 'not a url' }, 'hubUrl (MCPMAS_HUB_URL): must be an http:// or https:// URL'],
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
      ['--hub-url <url>', 'MCPMAS_HUB_URL', 'default: http://127.0.0.1:8080'],
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

describe('shared app plumbing', () => {
  it.each(['settings.ts', 'runtime.ts'])(
    '%s is the same file in both apps (apps may not depend on each other)',
    (file) => {
      const here = dirname(fileURLToPath(import.meta.url));
      const mine = readFileSync(join(here, '..', 'src', file), 'utf8');
      const hubs = readFileSync(join(here, '..', '..', 'central-agent', 'src', file), 'utf8');
      expect(mine).toBe(hubs);
    },
  );
});
