import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { ConfigError } from '@mcpmas/core';
import { pino } from 'pino';
import { z } from 'zod';
import {
  type ConfigSpec,
  defaultOf,
  describeSource,
  envOf,
  flagOf,
  helpText,
  httpUrl,
  integer,
  isConfigError,
  loadCommandConfig,
  loadConfig,
  logLevelSetting,
  logLoadedConfig,
  objectSchema,
  parseCommandLine,
  parseList,
  printConfigError,
  redact,
  type SettingsTable,
  settingsMarkdown,
} from '../src/index.js';

// A small command of its own: the package knows nothing of the hub or the agent.
const settings = {
  port: { kind: 'integer', schema: integer(0, 65_535).default(8080), description: 'Port to listen on.' },
  upstream: {
    kind: 'string',
    placeholder: '<url>',
    env: ['MCPMAS_UPSTREAM', 'UPSTREAM_URL'],
    schema: httpUrl().optional(),
    defaultText: '(none)',
    description: 'Where to forward | pipes are escaped.',
  },
  tags: { kind: 'list', schema: z.array(z.string()).default([]), description: 'Tags.' },
  ratio: { kind: 'number', schema: z.number().min(0).max(1).default(0.5), description: 'A ratio.' },
  extra: { kind: 'json', schema: z.record(z.string(), z.number()).optional(), description: 'JSON.' },
  token: { kind: 'string', secret: true, schema: z.string().optional(), description: 'A secret.' },
  logLevel: logLevelSetting(),
} satisfies SettingsTable;

const schema = objectSchema(settings).superRefine((config, ctx) => {
  if (config.port === 1 && config.extra === undefined) {
    ctx.addIssue({ code: 'custom', path: ['extra'], message: 'needed with port 1' });
  }
});
const spec: ConfigSpec<z.output<typeof schema>> = {
  command: 'demo-cmd',
  summary: 'A command for tests.',
  settings,
  schema,
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmas-cli-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function errorOf(argv: string[], env: Record<string, string> = {}): ConfigError {
  try {
    loadConfig(spec, argv, env, dir);
  } catch (error) {
    expect(isConfigError(error)).toBe(true);
    return error as ConfigError;
  }
  throw new Error('expected the configuration to be refused');
}

describe('names', () => {
  it('derives flags and variables from the key unless the setting names its own', () => {
    expect(flagOf('logLevel', settings.logLevel)).toBe('log-level');
    expect(envOf('logLevel', settings.logLevel)).toEqual(['MCPMAS_LOG_LEVEL']);
    expect(envOf('upstream', settings.upstream)).toEqual(['MCPMAS_UPSTREAM', 'UPSTREAM_URL']);
  });
});

describe('loadConfig', () => {
  it('merges flags > environment > .env > config file > defaults and says where each came from', () => {
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ port: 4, tags: ['file'], ratio: 0.25 }));
    writeFileSync(join(dir, '.env'), 'MCPMAS_PORT=3\nMCPMAS_TAGS=a, b\n');
    const { config, sources, files } = loadConfig(
      spec,
      ['--config', 'c.json', '--log-level', 'warn'],
      { MCPMAS_PORT: '2', UPSTREAM_URL: 'https://u.example.com' },
      dir,
    );
    expect(config).toEqual({
      port: 2,
      upstream: 'https://u.example.com',
      tags: ['a', 'b'],
      ratio: 0.25,
      logLevel: 'warn',
    });
    expect(describeSource(sources.port!)).toBe('MCPMAS_PORT');
    expect(describeSource(sources.tags!)).toBe(`MCPMAS_TAGS in ${join(dir, '.env')}`);
    expect(describeSource(sources.ratio!)).toBe(`"ratio" in ${join(dir, 'c.json')}`);
    expect(describeSource(sources.logLevel!)).toBe('--log-level');
    expect(sources.extra).toEqual({ kind: 'default' });
    expect(files).toEqual({ envFile: join(dir, '.env'), configFile: join(dir, 'c.json') });
  });

  it('parses every kind of text', () => {
    const { config } = loadConfig(
      spec,
      ['--port', '1_000', '--ratio', '0.75', '--tags', '["x","y"]', '--extra', '{"a":1}'],
      {},
      dir,
    );
    expect(config).toMatchObject({ port: 1000, ratio: 0.75, tags: ['x', 'y'], extra: { a: 1 } });
    expect(parseList(' a, ,b ')).toEqual(['a', 'b']);
    expect(() => parseList('[1,')).toThrow('is not a valid JSON array');
  });

  it('reports every problem at once, naming the setting and the source', () => {
    const error = errorOf(['--port', 'x', '--ratio', '2'], { MCPMAS_LOG_LEVEL: 'loud' });
    expect(error.message).toContain('port (--port): must be an integer, got "x"');
    expect(error.message).toContain('ratio (--ratio): Too big');
    expect(error.message).toContain('logLevel (MCPMAS_LOG_LEVEL): must be one of fatal');
    expect(error.details?.issues).toHaveLength(3);
  });

  it('runs cross-field checks and names unset settings by where to set them', () => {
    expect(errorOf(['--port', '1']).message).toBe('extra (--extra / MCPMAS_EXTRA): needed with port 1');
  });

  it('refuses unknown flags, positionals, and unknown config-file keys with suggestions', () => {
    expect(errorOf(['--prot', '1']).message).toBe('unknown flag --prot (did you mean --port?)');
    expect(errorOf(['serve']).message).toContain('unexpected argument "serve"');
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ rato: 1 }));
    expect(errorOf(['-c', 'c.json']).message).toContain('unknown setting "rato"');
    expect(errorOf(['-c', 'c.json']).message).toContain('(did you mean "ratio"?)');
  });

  it('splits the command line into setting values and its own flags', () => {
    expect(parseCommandLine(settings, ['-h', '--port', '1', '--env-file', 'x.env'])).toEqual({
      values: { port: '1' },
      help: true,
      envFile: 'x.env',
    });
  });
});

describe('help, README table, redaction and error printing', () => {
  it('documents every setting in --help', () => {
    const help = helpText(spec);
    expect(help).toContain('Usage: demo-cmd');
    expect(help).toContain('--upstream <url>');
    expect(help).toContain('env: MCPMAS_UPSTREAM, UPSTREAM_URL   config key: upstream   default: (none)');
    expect(help).toContain('--log-level <fatal|error|warn|info|debug|trace|silent>');
  });

  it('renders the settings as a Markdown table with escaped cells', () => {
    const table = settingsMarkdown(settings).split('\n');
    expect(table).toHaveLength(2 + Object.keys(settings).length);
    expect(table[0]).toMatch(
      /^\| setting \(config key\) +\| flag +\| environment +\| default +\| description +\|$/,
    );
    expect(table.find((row) => row.includes('`upstream`'))).toContain('Where to forward \\| pipes');
    expect(defaultOf(settings.tags)).toBe('(none)');
    expect(defaultOf(settings.port)).toBe('8080');
  });

  it('masks secrets and URL passwords', () => {
    expect(redact(settings, { token: 't0p', upstream: 'https://u:pw@h.example.com/x', port: 1 })).toEqual({
      token: '***',
      upstream: 'https://u:***@h.example.com/x',
      port: 1,
    });
  });

  it('logs the loaded configuration masked, with the source of every non-default setting', () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const loaded = loadConfig(spec, ['--port', '9'], { MCPMAS_TOKEN: 'hunter2' }, dir);
    logLoadedConfig(logger, settings, loaded);
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      msg: 'configuration loaded',
      config: { port: 9, token: '***', ratio: 0.5 },
      from: { port: '--port', token: 'MCPMAS_TOKEN' },
    });
    expect(lines[0]).not.toContain('hunter2');
    expect(Object.keys(entry.from as object)).not.toContain('ratio');
  });

  it('prints one line per problem and a pointer to --help', () => {
    const lines: string[] = [];
    printConfigError(errorOf(['--port', 'x']), (line) => lines.push(line));
    expect(lines).toEqual([
      'config error: port (--port): must be an integer, got "x"',
      'run with --help to list every setting',
    ]);
    expect(isConfigError({ code: 'CONFIG' })).toBe(true);
    expect(isConfigError(new Error('x'))).toBe(false);
  });
});

describe('loadCommandConfig', () => {
  const run = (argv: string[], check?: (config: z.output<typeof schema>) => void) => {
    const out: string[] = [];
    const err: string[] = [];
    const loaded = loadCommandConfig(
      spec,
      argv,
      {},
      tmpdir(),
      check,
      (t) => out.push(t),
      (t) => err.push(t),
    );
    return { loaded, out: out.join(''), err: err.join('') };
  };

  it('prints --help and answers exit code 0', () => {
    const { loaded, out, err } = run(['--help']);
    expect(loaded).toEqual({ exitCode: 0 });
    expect(out).toContain('Usage: demo-cmd');
    expect(err).toBe('');
  });

  it('resolves the configuration, with where each value came from', () => {
    const { loaded } = run(['--port', '9000']);
    expect(loaded).toMatchObject({ config: { port: 9000 }, sources: { port: { kind: 'flag' } } });
  });

  it('prints every configuration error and answers exit code 2', () => {
    const { loaded, out, err } = run(['--port', 'x', '--ratio', '7']);
    expect(loaded).toEqual({ exitCode: 2 });
    expect(out).toBe('');
    expect(err).toMatch(/config error: port/);
    expect(err).toMatch(/config error: ratio/);
    expect(err).toContain('run with --help');
  });

  it('counts a ConfigError from the extra check as a configuration error, and rethrows anything else', () => {
    const { loaded, err } = run([], () => {
      loadConfig(spec, ['--ratio', '9'], {}, tmpdir());
    });
    expect(loaded).toEqual({ exitCode: 2 });
    expect(err).toMatch(/config error: ratio/);
    expect(() =>
      run([], () => {
        throw new TypeError('a bug');
      }),
    ).toThrow('a bug');
  });
});
