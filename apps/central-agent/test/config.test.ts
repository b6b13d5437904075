import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { hashApiKey } from '@mcpmas/core';
import { helpText, hubConfigSpec, hubSettings, loadHubConfig, settingsMarkdown } from '../src/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpmas-hub-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const writeDotenv = (text: string, name = '.env') => writeFileSync(join(dir, name), text);
const writeConfig = (value: unknown, name = 'hub.json') => {
  writeFileSync(join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));
  return join(dir, name);
};

/** The message of the `ConfigError` that loading throws. */
function errorOf(argv: string[], env: Record<string, string> = {}): string {
  try {
    loadHubConfig(argv, env, dir);
  } catch (error) {
    expect((error as { code?: string }).code).toBe('CONFIG');
    return (error as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('loadHubConfig: sources and precedence', () => {
  it('uses the defaults when nothing is set', () => {
    const { config, sources } = loadHubConfig([], {}, dir);
    expect(config).toEqual({
      host: '127.0.0.1',
      port: 8080,
      protocols: ['http', 'ws', 'grpc', 'mcp'],
      wsPath: '/ws',
      mcpPath: '/mcp',
      grpcPort: 50_051,
      bodyLimit: '1mb',
      apiKeys: [],
      notifiers: [],
      heartbeatIntervalMs: 5000,
      heartbeatTimeoutMs: 15_000,
      sweepIntervalMs: 1000,
      maxPayloadBytes: 1_048_576,
      maxResultBytes: 1_048_576,
      resultTtlMs: 3_600_000,
      namespace: 'mcpmas',
      logLevel: 'info',
    });
    expect(Object.values(sources).every((s) => s.kind === 'default')).toBe(true);
  });

  it('flags win over the environment, which wins over .env, which wins over the config file', () => {
    const file = writeConfig({ port: 1004, host: '10.0.0.4', logLevel: 'debug', namespace: 'from-file' });
    writeDotenv('MCPMAS_PORT=1003\nMCPMAS_HOST=10.0.0.3\nMCPMAS_LOG_LEVEL=warn\n');
    const env = { MCPMAS_PORT: '1002', MCPMAS_HOST: '10.0.0.2' };
    const { config, sources } = loadHubConfig(['--config', file, '--port', '1001'], env, dir);
    expect(config).toMatchObject({ port: 1001, host: '10.0.0.2', logLevel: 'warn', namespace: 'from-file' });
    expect(sources.port).toEqual({ kind: 'flag', name: '--port' });
    expect(sources.host).toEqual({ kind: 'env', name: 'MCPMAS_HOST' });
    expect(sources.logLevel).toEqual({ kind: 'dotenv', name: 'MCPMAS_LOG_LEVEL', file: join(dir, '.env') });
    expect(sources.namespace).toEqual({ kind: 'file', key: 'namespace', file });

    expect(loadHubConfig(['--config', file], env, dir).config.port).toBe(1002);
    expect(loadHubConfig(['--config', file], {}, dir).config.port).toBe(1003);
    rmSync(join(dir, '.env'));
    expect(loadHubConfig(['--config', file], {}, dir).config.port).toBe(1004);
    expect(loadHubConfig([], {}, dir).config.port).toBe(8080);
  });

  it('an empty variable counts as unset', () => {
    writeDotenv('MCPMAS_PORT=1003\n');
    expect(loadHubConfig([], { MCPMAS_PORT: '' }, dir).config.port).toBe(1003);
  });

  it('finds the config file through MCPMAS_CONFIG, also when .env sets it', () => {
    writeConfig({ port: 2001 }, 'a.json');
    writeConfig({ port: 2002 }, 'b.json');
    expect(loadHubConfig([], { MCPMAS_CONFIG: 'a.json' }, dir).config.port).toBe(2001);
    writeDotenv('MCPMAS_CONFIG=b.json\n');
    expect(loadHubConfig([], {}, dir).config.port).toBe(2002);
    expect(loadHubConfig(['-c', 'a.json'], {}, dir).config.port).toBe(2001);
  });

  it('reads --env-file instead of ./.env', () => {
    writeDotenv('MCPMAS_PORT=3001\n');
    writeDotenv('MCPMAS_PORT=3002\n', 'prod.env');
    expect(loadHubConfig(['--env-file', 'prod.env'], {}, dir).config.port).toBe(3002);
    expect(loadHubConfig([], { MCPMAS_ENV_FILE: join(dir, 'prod.env') }, dir).config.port).toBe(3002);
  });

  it('takes REDIS_URL, with MCPMAS_REDIS_URL first', () => {
    expect(loadHubConfig([], { REDIS_URL: 'redis://a:6379' }, dir).config.redisUrl).toBe('redis://a:6379');
    const both = { REDIS_URL: 'redis://a:6379', MCPMAS_REDIS_URL: 'rediss://b:6380/2' };
    expect(loadHubConfig([], both, dir).config.redisUrl).toBe('rediss://b:6380/2');
  });

  it('parses API keys from the id:key:scopes form, with plain keys or sha256 digests', () => {
    const digest = hashApiKey('agent-secret-1');
    const env = {
      MCPMAS_API_KEYS: `admin:admin-secret-1:admin, agents:sha256=${digest}:agent:connect+task:read`,
    };
    expect(loadHubConfig([], env, dir).config.apiKeys).toEqual([
      { id: 'admin', key: 'admin-secret-1', scopes: ['admin'] },
      { id: 'agents', sha256: digest, scopes: ['agent:connect', 'task:read'] },
    ]);
  });

  it('takes API keys as JSON, in the config file or in the environment', () => {
    const keys = [{ id: 'ci', key: 'ci-secret-123', scopes: ['task:submit', 'task:read'] }];
    const file = writeConfig({ apiKeys: keys });
    expect(loadHubConfig(['--config', file], {}, dir).config.apiKeys).toEqual(keys);
    expect(loadHubConfig([], { MCPMAS_API_KEYS: JSON.stringify(keys) }, dir).config.apiKeys).toEqual(keys);
  });

  it('takes the notifier list from the config file or as JSON from the environment', () => {
    const notifiers = [
      { type: 'webhook', name: 'ops', url: 'https://ops.example.com/hook', secret: 'hook-secret' },
      { type: 'im', platform: 'slack', url: 'https://hooks.slack.com/services/T/B/X' },
    ];
    const file = writeConfig({ notifiers });
    expect(loadHubConfig(['--config', file], {}, dir).config.notifiers).toEqual(notifiers);
    const env = { MCPMAS_NOTIFIERS: JSON.stringify(notifiers.slice(1)) };
    expect(loadHubConfig(['--config', file], env, dir).config.notifiers).toEqual(notifiers.slice(1));
  });

  it('accepts numbers as text in the config file and sizes as numbers', () => {
    const file = writeConfig({ port: '0', bodyLimit: 2048, heartbeatIntervalMs: '1_000' });
    expect(loadHubConfig(['--config', file], {}, dir).config).toMatchObject({
      port: 0,
      bodyLimit: '2048',
      heartbeatIntervalMs: 1000,
    });
  });

  it('serves a chosen set of protocols, WebSocket on a port of its own when asked', () => {
    const { config } = loadHubConfig(
      ['--protocols', 'ws, grpc', '--ws-port', '9001'],
      { MCPMAS_GRPC_HOST: '0.0.0.0' },
      dir,
    );
    expect(config).toMatchObject({ protocols: ['ws', 'grpc'], wsPort: 9001, grpcHost: '0.0.0.0' });
    // Ports may coincide on different interfaces, and 0 always picks a free one.
    expect(loadHubConfig(['--grpc-port', '8080', '--grpc-host', '10.0.0.1'], {}, dir).config.grpcPort).toBe(
      8080,
    );
    expect(loadHubConfig(['--port', '0', '--grpc-port', '0', '--ws-port', '0'], {}, dir).config.wsPort).toBe(
      0,
    );
  });

  it('ignores MCPMAS_* variables it does not know (they may belong to mcpmas-agent)', () => {
    expect(loadHubConfig([], { MCPMAS_HUB_URL: 'http://x' }, dir).config.port).toBe(8080);
  });
});

describe('loadHubConfig: bad values are refused, naming the setting and where it came from', () => {
  it.each([
    [['--port', 'abc'], {}, 'port (--port): must be an integer, got "abc"'],
    [[], { MCPMAS_PORT: '70000' }, 'port (MCPMAS_PORT): must be at most 65535'],
    [['--port=-1'], {}, 'port (--port): must be at least 0'],
    [[], { MCPMAS_HOST: ' ' }, 'host (MCPMAS_HOST): must not be empty'],
    [
      [],
      { MCPMAS_HEARTBEAT_INTERVAL_MS: '5000', MCPMAS_HEARTBEAT_TIMEOUT_MS: '3000' },
      'heartbeatTimeoutMs (MCPMAS_HEARTBEAT_TIMEOUT_MS): must be greater than heartbeatIntervalMs',
    ],
    [
      ['--heartbeat-interval-ms', '20000'],
      {},
      'heartbeatTimeoutMs (default 15000): must be greater than heartbeatIntervalMs (20000)',
    ],
    [['--body-limit', 'lots'], {}, 'bodyLimit (--body-limit): must be a size such as 512kb'],
    [
      [],
      { MCPMAS_API_KEYS: 'just-a-key' },
      'apiKeys (MCPMAS_API_KEYS): entry 1 must look like id:key:scope1+scope2',
    ],
    [
      [],
      { MCPMAS_API_KEYS: 'a:long-enough-key:root' },
      'apiKeys (MCPMAS_API_KEYS): [0].scopes[0]: must be one of',
    ],
    [[], { MCPMAS_API_KEYS: 'a:short:admin' }, '[0].key: must be at least 8 characters'],
    [[], { MCPMAS_API_KEYS: 'a:sha256=abc:admin' }, '[0].sha256: must be the 64 hex characters'],
    [[], { MCPMAS_API_KEYS: 'a:long-enough-1:admin,a:long-enough-2:admin' }, '[1].id: "a" is used twice'],
    [[], { MCPMAS_API_KEYS: '[{"id":"a"' }, 'apiKeys (MCPMAS_API_KEYS): is not a valid JSON array'],
    [[], { MCPMAS_NOTIFIERS: '[{"type":' }, 'notifiers (MCPMAS_NOTIFIERS): is not valid JSON'],
    [
      [],
      { MCPMAS_NOTIFIERS: '[{"type":"pigeon"}]' },
      'notifiers (MCPMAS_NOTIFIERS): [0].type: type must be one of webhook',
    ],
    [
      [],
      { MCPMAS_NOTIFIERS: '[{"type":"webhook","url":"ftp://x","secret":"s"}]' },
      'notifiers (MCPMAS_NOTIFIERS): [0].url: must be an absolute http(s) URL',
    ],
    [
      [],
      { REDIS_URL: 'http://localhost:6379' },
      'redisUrl (REDIS_URL): must be a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL',
    ],
    [[], { MCPMAS_LOG_LEVEL: 'loud' }, 'logLevel (MCPMAS_LOG_LEVEL): must be one of fatal, error, warn'],
    [['--hub-id', 'bad id!'], {}, 'hubId (--hub-id): must start with a letter or digit'],
    [['--sweep-interval-ms', '5'], {}, 'sweepIntervalMs (--sweep-interval-ms): must be at least 10'],
    [['--result-ttl-ms', '1.5'], {}, 'resultTtlMs (--result-ttl-ms): must be an integer, got "1.5"'],
    [['--max-payload-bytes', '0'], {}, 'maxPayloadBytes (--max-payload-bytes): must be at least 1'],
    [['--namespace', 'has space'], {}, 'namespace (--namespace): must be 1-64 letters'],
    [['--protocols', 'http,smtp'], {}, 'protocols (--protocols): [1]: must be one of http, ws, grpc, mcp'],
    [['--protocols', 'http,http'], {}, 'protocols (--protocols): must not name a protocol twice'],
    [['--protocols', 'grpc,mcp'], {}, 'protocols (--protocols): mcp is served on the HTTP server'],
    [
      ['--protocols', 'ws,grpc'],
      {},
      'wsPort (--ws-port / MCPMAS_WS_PORT): is required when protocols has ws without http',
    ],
    [['--ws-path', 'ws'], {}, 'wsPath (--ws-path): must be a URL path starting with "/"'],
    [['--mcp-path', '/task/mcp'], {}, 'mcpPath (--mcp-path): must not start with a path the REST API uses'],
    [['--grpc-port', '8080'], {}, 'grpcPort (--grpc-port): must differ from port (8080)'],
    [['--ws-port', '8080'], {}, 'wsPort (--ws-port): must differ from port (8080)'],
    [
      ['--grpc-tls-cert', 'cert.pem'],
      {},
      'grpcTlsKey (--grpc-tls-key / MCPMAS_GRPC_TLS_KEY): grpcTlsCert and',
    ],
    [['--grpc-tls-ca', 'ca.pem'], {}, 'grpcTlsCa (--grpc-tls-ca): needs grpcTlsCert and grpcTlsKey'],
  ] as Array<[string[], Record<string, string>, string | undefined]>)('%j %j', (argv, env, expected) => {
    const message = errorOf(argv, env);
    if (expected) expect(message).toContain(expected);
  });

  it('names the .env file and the config file a bad value came from', () => {
    writeDotenv('MCPMAS_PORT=nope\n');
    expect(errorOf([])).toContain(`port (MCPMAS_PORT in ${join(dir, '.env')}): must be an integer`);
    rmSync(join(dir, '.env'));
    const file = writeConfig({ port: true });
    expect(errorOf(['--config', file])).toContain(`port ("port" in ${file}): must be an integer`);
    const both = writeConfig({
      apiKeys: [{ id: 'x', key: 'long-enough-key', sha256: 'a'.repeat(64), scopes: ['admin'] }],
    });
    expect(errorOf(['--config', both])).toContain('apiKeys ("apiKeys" in');
    expect(errorOf(['--config', both])).toContain('[0]: needs exactly one of key or sha256');
  });

  it('lists every problem at once', () => {
    const message = errorOf(['--port', 'x', '--log-level', 'loud']);
    expect(message).toContain('port (--port)');
    expect(message).toContain('logLevel (--log-level)');
  });

  it('refuses unknown flags, with a suggestion', () => {
    expect(errorOf(['--porr', '8080'])).toContain('unknown flag --porr (did you mean --port?)');
    expect(errorOf(['--prot', 'http'])).toContain('unknown flag --prot (did you mean --protocols?)');
    expect(errorOf(['--frobnicate'])).toMatch(/^unknown flag --frobnicate$/);
  });

  it('refuses positional arguments and flags without a value', () => {
    expect(errorOf(['serve'])).toContain('unexpected argument "serve"');
    expect(errorOf(['--port'])).toContain('--port needs a value');
  });

  it('refuses unknown config-file keys, with a suggestion', () => {
    const file = writeConfig({ porr: 1, heartbeatIntervalMs: 1000 });
    expect(errorOf(['--config', file])).toContain(`unknown setting "porr" in ${file} (did you mean "port"?)`);
  });

  it('refuses a missing, unreadable or non-object config file', () => {
    expect(errorOf(['--config', 'missing.json'])).toContain(
      `config (--config): cannot read ${join(dir, 'missing.json')}: no such file`,
    );
    expect(errorOf(['--config', writeConfig('{ port: 1 }')])).toContain('is not valid JSON');
    expect(errorOf(['--config', writeConfig([1, 2])])).toContain('must hold a JSON object of settings');
    expect(errorOf([], { MCPMAS_CONFIG: 'gone.json' })).toContain('config (MCPMAS_CONFIG): cannot read');
  });

  it('refuses a named .env file that does not exist', () => {
    expect(errorOf(['--env-file', 'nope.env'])).toContain('envFile (--env-file): cannot read');
  });
});

describe('--help', () => {
  const help = helpText(hubConfigSpec);

  it('lists every setting with its flag, environment variables and default', () => {
    const expected: Array<[string, string, string]> = [
      ['--host <address>', 'MCPMAS_HOST', 'default: 127.0.0.1'],
      ['--port <int>', 'MCPMAS_PORT', 'default: 8080'],
      ['--protocols <http,ws,grpc,mcp>', 'MCPMAS_PROTOCOLS', 'default: http,ws,grpc,mcp'],
      ['--ws-path <path>', 'MCPMAS_WS_PATH', 'default: /ws'],
      ['--ws-port <int>', 'MCPMAS_WS_PORT', 'default: (none: on the HTTP server)'],
      ['--mcp-path <path>', 'MCPMAS_MCP_PATH', 'default: /mcp'],
      ['--grpc-host <address>', 'MCPMAS_GRPC_HOST', 'default: (the host setting)'],
      ['--grpc-port <int>', 'MCPMAS_GRPC_PORT', 'default: 50051'],
      ['--grpc-tls-cert <file.pem>', 'MCPMAS_GRPC_TLS_CERT', 'default: (none: plaintext gRPC)'],
      ['--grpc-tls-key <file.pem>', 'MCPMAS_GRPC_TLS_KEY', 'default: (none)'],
      ['--grpc-tls-ca <file.pem>', 'MCPMAS_GRPC_TLS_CA', 'default: (none: no client certificates)'],
      ['--body-limit <size>', 'MCPMAS_BODY_LIMIT', 'default: 1mb'],
      ['--api-keys', 'MCPMAS_API_KEYS', 'default: (none: no authentication)'],
      ['--heartbeat-interval-ms <int>', 'MCPMAS_HEARTBEAT_INTERVAL_MS', 'default: 5000'],
      ['--heartbeat-timeout-ms <int>', 'MCPMAS_HEARTBEAT_TIMEOUT_MS', 'default: 15000'],
      ['--sweep-interval-ms <int>', 'MCPMAS_SWEEP_INTERVAL_MS', 'default: 1000'],
      ['--max-payload-bytes <int>', 'MCPMAS_MAX_PAYLOAD_BYTES', 'default: 1048576'],
      ['--max-result-bytes <int>', 'MCPMAS_MAX_RESULT_BYTES', 'default: 1048576'],
      ['--result-ttl-ms <int>', 'MCPMAS_RESULT_TTL_MS', 'default: 3600000'],
      ['--notifiers <json array>', 'MCPMAS_NOTIFIERS', 'default: (none)'],
      ['--redis-url <url>', 'MCPMAS_REDIS_URL, REDIS_URL', 'default: (none: in-memory backend, one hub)'],
      ['--namespace <text>', 'MCPMAS_NAMESPACE', 'default: mcpmas'],
      ['--hub-id <id>', 'MCPMAS_HUB_ID', 'default: <hostname>-<random>'],
      ['--log-level', 'MCPMAS_LOG_LEVEL', 'default: info'],
    ];
    // Every setting of the table is in the list above: a new setting needs a line here too.
    expect(expected).toHaveLength(Object.keys(hubSettings).length);
    const lines = help.split('\n');
    for (const [flag, env, defaultText] of expected) {
      const at = lines.findIndex((line) => line.trim().startsWith(flag));
      expect(at).toBeGreaterThan(-1);
      expect(lines[at + 2]).toContain(`env: ${env} `);
      expect(lines[at + 2]).toContain(defaultText);
    }
    expect(help).toContain('--config <file>');
    expect(help).toContain('--env-file <file>');
  });

  it('the README settings table is the generated one', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const readme = readFileSync(join(here, '..', 'README.md'), 'utf8');
    expect(readme).toContain(settingsMarkdown(hubSettings));
  });
});
