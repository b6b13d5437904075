/**
 * Configuration from one settings table: flags (node:util parseArgs), `MCPMAS_*` environment
 * variables, a `.env` file and an optional JSON config file, merged with the precedence
 * flags > environment > `.env` > config file > defaults, then validated by one zod schema.
 * Flag and variable names, `--help` and the README table are all generated from the table,
 * so they cannot drift from the schema.
 *
 * `mcpmas-hub` and `mcpmas-agent` both build their configuration on this module.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseArgs, parseEnv } from 'node:util';
import { ConfigError } from '@mcpmas/core';
import { z } from 'zod';

/** How text from a flag, a variable or a string in the config file becomes a value. */
export type SettingKind = 'string' | 'integer' | 'number' | 'list' | 'json';

/** One setting of an app. */
export interface Setting {
  /** Validates the merged value; its `.default()` is the default `--help` shows. */
  schema: z.ZodType;
  /** How text is turned into a value before validation. */
  kind: SettingKind;
  /** One line for `--help` and the README. */
  description: string;
  /** Variables read, first wins. @default `MCPMAS_<KEY_IN_SNAKE_CASE>` */
  env?: string[];
  /** Flag name without dashes. @default the key in kebab-case */
  flag?: string;
  /** Placeholder in `--help`, e.g. `<url>`. @default from `kind` */
  placeholder?: string;
  /** Replaces `kind`'s text parsing (throw an `Error` whose message says what is wrong). */
  parse?: (text: string) => unknown;
  /** Shown as the default when the schema has none of its own (a derived default). */
  defaultText?: string;
  /** Never logged in clear. */
  secret?: boolean;
}

/** An app's settings, keyed by the name used in the config file and in code. */
export type SettingsTable = Record<string, Setting>;

/** Where a setting's value came from. */
export type SettingSource =
  | { kind: 'flag'; name: string }
  | { kind: 'env'; name: string }
  | { kind: 'dotenv'; name: string; file: string }
  | { kind: 'file'; key: string; file: string }
  | { kind: 'default' };

/** One problem found while loading configuration. */
export interface ConfigIssue {
  /** The setting's key (`config`/`envFile` for the files); absent for an unknown flag or key. */
  setting?: string;
  /** Where the offending value came from, e.g. `MCPMAS_PORT` or `"port" in hub.json`. */
  source?: string;
  message: string;
}

/** The app-level description the loader works from. */
export interface ConfigSpec<Out> {
  /** Command name, e.g. `mcpmas-hub`. */
  command: string;
  /** One paragraph shown at the top of `--help`. */
  summary: string;
  settings: SettingsTable;
  /** The one schema: the strict object built by {@link objectSchema} plus cross-field checks. */
  schema: z.ZodType<Out>;
}

/** A loaded configuration and where each value came from. */
export interface LoadedConfig<Out> {
  config: Out;
  sources: Record<string, SettingSource>;
  /** The `.env` and config files read, if any. */
  files: { envFile?: string; configFile?: string };
}

/** The command line, split into setting values and the loader's own flags. */
export interface CommandLine {
  values: Record<string, string>;
  help: boolean;
  configFile?: string;
  envFile?: string;
}

/** Variables naming the config file and the `.env` file. */
export const CONFIG_FILE_ENV = 'MCPMAS_CONFIG';
/** @see CONFIG_FILE_ENV */
export const ENV_FILE_ENV = 'MCPMAS_ENV_FILE';

const PLACEHOLDER: Record<SettingKind, string> = {
  string: '<text>',
  integer: '<int>',
  number: '<num>',
  list: '<a,b,…>',
  json: '<json>',
};

/** Log levels of pino, most severe first. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The `logLevel` setting every mcpmas command has: the least severe pino level written.
 *
 * @example
 * const settings = { port: { kind: 'integer', schema: integer(0, 65_535).default(8080), description: 'Port.' },
 *   logLevel: logLevelSetting() } satisfies SettingsTable;
 */
export function logLevelSetting() {
  return {
    kind: 'string',
    placeholder: `<${LOG_LEVELS.join('|')}>`,
    schema: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
    description: 'Least severe log level written (JSON lines on stdout).',
  } satisfies Setting;
}

/** An integer setting with messages that say what is wrong. */
export function integer(min: number, max: number) {
  return z
    .int({ error: 'must be an integer' })
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
}

/** An http: or https: URL setting. */
export function httpUrl() {
  return z.string({ error: 'must be a URL' }).refine((text) => {
    try {
      const url = new URL(text);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL');
}

/** The strict zod object of a settings table: unknown keys are refused. */
export function objectSchema<T extends SettingsTable>(settings: T) {
  const shape = Object.fromEntries(Object.entries(settings).map(([key, s]) => [key, s.schema]));
  return z.strictObject(shape as { [K in keyof T]: T[K]['schema'] });
}

/** The flag of a setting, without dashes. */
export function flagOf(key: string, setting: Setting): string {
  return setting.flag ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The variables of a setting, first wins. */
export function envOf(key: string, setting: Setting): string[] {
  return setting.env ?? [`MCPMAS_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`];
}

/** Splits the command line. Unknown flags and positional arguments are `ConfigError`s. */
export function parseCommandLine(settings: SettingsTable, argv: readonly string[]): CommandLine {
  const byFlag = new Map<string, string>();
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    config: { type: 'string', short: 'c' },
    'env-file': { type: 'string' },
  };
  for (const [key, setting] of Object.entries(settings)) {
    const flag = flagOf(key, setting);
    byFlag.set(flag, key);
    options[flag] = { type: 'string' };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  } catch (error) {
    throw commandLineError(error, Object.keys(options));
  }
  const out: CommandLine = { values: {}, help: parsed.values.help === true };
  for (const [flag, value] of Object.entries(parsed.values)) {
    if (typeof value !== 'string') continue;
    if (flag === 'config') out.configFile = value;
    else if (flag === 'env-file') out.envFile = value;
    else out.values[byFlag.get(flag)!] = value;
  }
  return out;
}

function commandLineError(error: unknown, flags: string[]): ConfigError {
  const err = error as { code?: string; message?: string };
  const quoted = /'([^']+)'/.exec(err.message ?? '')?.[1] ?? '';
  const flag = quoted.split(/[ =]/)[0] ?? quoted;
  let message: string;
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const hint = closest(flag.replace(/^-+/, ''), flags);
    message = `unknown flag ${flag}${hint ? ` (did you mean --${hint}?)` : ''}`;
  } else if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    message = `unexpected argument "${quoted}": settings are given as --name value`;
  } else if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    message = `${flag || 'a flag'} needs a value (write --name=value when the value starts with -)`;
  } else message = err.message ?? String(error);
  return new ConfigError(message, { details: { issues: [{ message }] }, cause: error });
}

/**
 * Loads, merges and validates configuration. Throws a `ConfigError` listing every problem;
 * `details.issues` holds them as {@link ConfigIssue}s.
 */
export function loadConfig<Out>(
  spec: ConfigSpec<Out>,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): LoadedConfig<Out> {
  return resolveConfig(spec, parseCommandLine(spec.settings, argv), env, cwd);
}

/** {@link loadConfig} from an already parsed command line. */
export function resolveConfig<Out>(
  spec: ConfigSpec<Out>,
  commandLine: CommandLine,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): LoadedConfig<Out> {
  const issues: ConfigIssue[] = [];
  const files: LoadedConfig<Out>['files'] = {};

  // `.env`: the one named, or `<cwd>/.env` when it exists.
  let dotenv: Record<string, string | undefined> = {};
  const envFileSetting = commandLine.envFile ?? nonEmpty(env[ENV_FILE_ENV]);
  const envFileSource = commandLine.envFile !== undefined ? '--env-file' : ENV_FILE_ENV;
  const envFile = envFileSetting !== undefined ? absolute(cwd, envFileSetting) : resolve(cwd, '.env');
  if (envFileSetting !== undefined || existsSync(envFile)) {
    try {
      dotenv = parseEnv(readFileSync(envFile, 'utf8'));
      files.envFile = envFile;
    } catch (error) {
      issues.push({
        setting: 'envFile',
        source: envFileSetting !== undefined ? envFileSource : '.env',
        message: `cannot read ${envFile}: ${reason(error)}`,
      });
    }
  }

  // The config file: named by a flag, the environment or the `.env` file.
  let fileValues: Record<string, unknown> = {};
  const configSetting =
    commandLine.configFile ?? nonEmpty(env[CONFIG_FILE_ENV]) ?? nonEmpty(dotenv[CONFIG_FILE_ENV]);
  if (configSetting !== undefined) {
    const source =
      commandLine.configFile !== undefined
        ? '--config'
        : nonEmpty(env[CONFIG_FILE_ENV]) !== undefined
          ? CONFIG_FILE_ENV
          : `${CONFIG_FILE_ENV} in ${files.envFile}`;
    const configFile = absolute(cwd, configSetting);
    const read = readConfigFile(configFile);
    if ('error' in read) issues.push({ setting: 'config', source, message: read.error });
    else {
      files.configFile = configFile;
      fileValues = read.values;
      for (const key of Object.keys(fileValues)) {
        if (Object.hasOwn(spec.settings, key)) continue;
        const hint = closest(key, Object.keys(spec.settings));
        issues.push({
          message: `unknown setting "${key}" in ${configFile}${hint ? ` (did you mean "${hint}"?)` : ''}`,
        });
      }
    }
  }

  // Merge: the first source that has a value wins.
  const merged: Record<string, unknown> = {};
  const sources: Record<string, SettingSource> = {};
  for (const [key, setting] of Object.entries(spec.settings)) {
    const found = pick(key, setting, commandLine, env, dotenv, fileValues, files);
    sources[key] = found?.source ?? { kind: 'default' };
    if (!found) continue;
    if (typeof found.value !== 'string' || (setting.kind === 'string' && !setting.parse)) {
      merged[key] = found.value;
      continue;
    }
    try {
      merged[key] = setting.parse ? setting.parse(found.value) : parseText(setting.kind, found.value);
    } catch (error) {
      issues.push({ setting: key, source: describeSource(found.source), message: reason(error) });
    }
  }
  // Values that could not be read are left out; the schema still checks the others so that
  // every problem is reported at once (cross-field checks only when all values were read).
  const unread = new Set(issues.map((issue) => issue.setting));
  const result = spec.schema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (unread.size > 0 && (issue.code === 'custom' || unread.has(String(issue.path[0])))) continue;
      const [key, ...rest] = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
      const message =
        issue.code === 'unrecognized_keys' ? `unknown setting(s): ${issue.keys.join(', ')}` : issue.message;
      if (typeof key !== 'string' || !Object.hasOwn(spec.settings, key)) {
        issues.push({ message });
        continue;
      }
      // Inside a list or object setting, name the element too: `apiKeys (…): [1].scopes: …`.
      const sub = rest
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
        .join('')
        .replace(/^\./, '');
      issues.push({
        setting: key,
        source: sourceText(key, spec.settings[key]!, sources[key]!),
        message: sub ? `${sub}: ${message}` : message,
      });
    }
  }
  if (issues.length > 0 || !result.success) throw configError(issues);
  return { config: result.data, sources, files };
}

interface Found {
  value: unknown;
  source: SettingSource;
}

function pick(
  key: string,
  setting: Setting,
  commandLine: CommandLine,
  env: Readonly<Record<string, string | undefined>>,
  dotenv: Record<string, string | undefined>,
  fileValues: Record<string, unknown>,
  files: { envFile?: string; configFile?: string },
): Found | undefined {
  const flag = commandLine.values[key];
  if (flag !== undefined) return { value: flag, source: { kind: 'flag', name: `--${flagOf(key, setting)}` } };
  const names = envOf(key, setting);
  // An empty variable counts as unset, so `FOO=` in a shell or `.env` clears nothing by accident.
  for (const name of names) {
    const value = nonEmpty(env[name]);
    if (value !== undefined) return { value, source: { kind: 'env', name } };
  }
  for (const name of names) {
    const value = nonEmpty(dotenv[name]);
    if (value !== undefined)
      return { value, source: { kind: 'dotenv', name, file: files.envFile ?? '.env' } };
  }
  if (Object.hasOwn(fileValues, key) && fileValues[key] !== undefined && fileValues[key] !== null) {
    return { value: fileValues[key], source: { kind: 'file', key, file: files.configFile ?? '' } };
  }
  return undefined;
}

function parseText(kind: SettingKind, text: string): unknown {
  switch (kind) {
    case 'string':
      return text;
    case 'integer': {
      const trimmed = text.trim();
      if (!/^[+-]?\d[\d_]*$/.test(trimmed)) throw new Error(`must be an integer, got "${text}"`);
      return Number(trimmed.replaceAll('_', ''));
    }
    case 'number': {
      const value = Number(text.trim());
      if (text.trim() === '' || !Number.isFinite(value)) throw new Error(`must be a number, got "${text}"`);
      return value;
    }
    case 'list':
      return parseList(text);
    case 'json':
      try {
        return JSON.parse(text);
      } catch (error) {
        throw new Error(`is not valid JSON: ${reason(error)}`);
      }
  }
}

/** A comma-separated list, or a JSON array when the text starts with `[`. */
export function parseList(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      throw new Error(`is not a valid JSON array: ${reason(error)}`);
    }
    if (!Array.isArray(value)) throw new Error('must be a JSON array');
    return value;
  }
  return trimmed
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function readConfigFile(file: string): { values: Record<string, unknown> } | { error: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { error: `cannot read ${file}: ${reason(error)}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `${file} is not valid JSON: ${reason(error)}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: `${file} must hold a JSON object of settings` };
  }
  return { values: value as Record<string, unknown> };
}

/** How a source is named in messages, e.g. `MCPMAS_PORT in /srv/.env`. */
export function describeSource(source: SettingSource): string {
  switch (source.kind) {
    case 'flag':
    case 'env':
      return source.name;
    case 'dotenv':
      return `${source.name} in ${source.file}`;
    case 'file':
      return `"${source.key}" in ${source.file}`;
    case 'default':
      return 'default';
  }
}

/** The source as shown in an error: where to fix it (for an unset value, where to set it). */
function sourceText(key: string, setting: Setting, source: SettingSource): string {
  if (source.kind !== 'default') return describeSource(source);
  const shown = defaultOf(setting);
  if (shown !== undefined && setting.defaultText === undefined) return `default ${shown}`;
  return [`--${flagOf(key, setting)}`, ...envOf(key, setting)].join(' / ');
}

function configError(issues: ConfigIssue[]): ConfigError {
  const lines = issues.map(formatIssue);
  return new ConfigError(lines.join('; '), { details: { issues } });
}

/** `setting (source): message`, the form the CLIs print after `config error: `. */
export function formatIssue(issue: ConfigIssue): string {
  if (issue.setting === undefined) return issue.message;
  return issue.source === undefined
    ? `${issue.setting}: ${issue.message}`
    : `${issue.setting} (${issue.source}): ${issue.message}`;
}

/** The default of a setting as text, or undefined when it has none. */
export function defaultOf(setting: Setting): string | undefined {
  const parsed = setting.schema.safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return setting.defaultText;
  const value: unknown = parsed.data;
  if (Array.isArray(value)) return value.length === 0 ? (setting.defaultText ?? '(none)') : value.join(',');
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

/** `--help`: usage, the loader's own flags, then every setting with flag, variables, default. */
export function helpText<Out>(spec: ConfigSpec<Out>): string {
  const lines = [
    `Usage: ${spec.command} [--config <file.json>] [--env-file <file>] [--<setting> <value> …]`,
    '',
    spec.summary,
    '',
    'Each setting is read from, first wins: its flag, its environment variable, the .env file',
    '(./.env, or --env-file), the JSON config file (--config), then its default.',
    '',
    'Options:',
    '  -h, --help               Show this help and exit.',
    `  -c, --config <file>      JSON config file of settings (env ${CONFIG_FILE_ENV}). Unknown keys are errors.`,
    `      --env-file <file>    .env file to read instead of ./.env (env ${ENV_FILE_ENV}).`,
    '',
    'Settings:',
  ];
  for (const [key, setting] of Object.entries(spec.settings)) {
    const flag = `--${flagOf(key, setting)} ${setting.placeholder ?? PLACEHOLDER[setting.kind]}`;
    lines.push(`  ${flag}`);
    lines.push(`      ${setting.description}`);
    lines.push(
      `      env: ${envOf(key, setting).join(', ')}   config key: ${key}   default: ${defaultOf(setting) ?? '(none)'}`,
    );
  }
  lines.push('', 'A bad value stops start-up with exit code 2 and a message naming the setting.');
  return lines.join('\n');
}

/**
 * The settings as a Markdown table, for the README (a test keeps the README in step). Columns
 * are padded the way the formatter lays tables out, so formatting the README changes nothing.
 */
export function settingsMarkdown(settings: SettingsTable): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const rows = Object.entries(settings).map(([key, setting]) => [
    `\`${key}\``,
    `\`--${flagOf(key, setting)}\``,
    envOf(key, setting)
      .map((name) => `\`${name}\``)
      .join(', '),
    cell(code(defaultOf(setting) ?? '(none)')),
    cell(setting.description).replaceAll('<', '&lt;'),
  ]);
  const header = ['setting (config key)', 'flag', 'environment', 'default', 'description'];
  const widths = header.map((h, c) => Math.max(3, h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: string[]) => `| ${cells.map((text, c) => text.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function code(text: string): string {
  return text.startsWith('(') ? text : `\`${text}\``;
}

/** A copy of the configuration safe to log: secrets masked, URL passwords hidden. */
export function redact<Out extends Record<string, unknown>>(
  settings: SettingsTable,
  config: Out,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const setting = settings[key];
    if (value === undefined) continue;
    if (setting?.secret) out[key] = '***';
    else if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/]*:[^/@]*@/i.test(value)) {
      out[key] = value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:]*):[^/@]*@/i, '$1:***@');
    } else out[key] = value;
  }
  return out;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function absolute(cwd: string, path: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}

function reason(error: unknown): string {
  // Duck-typed: errors from node:fs may come from another realm (as under jest's VM).
  const err = error as { code?: unknown; message?: unknown } | null;
  if (err?.code === 'ENOENT') return 'no such file';
  if (err?.code === 'EACCES') return 'permission denied';
  if (err?.code === 'EISDIR') return 'is a directory';
  return typeof err?.message === 'string' ? err.message : String(error);
}

/** The closest known name within an edit distance of 3, to suggest for a typo. */
function closest(word: string, candidates: string[]): string | undefined {
  // A prefix (`--hub` for `--hub-url`) says more than a small edit distance (`--help`).
  const prefixed = candidates.filter(
    (c) => word.length >= 3 && c.toLowerCase().startsWith(word.toLowerCase()),
  );
  if (prefixed.length > 0) return prefixed.sort((a, b) => a.length - b.length)[0];
  let best: string | undefined;
  let bestDistance = 4;
  for (const candidate of candidates) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = saved;
    }
  }
  return row[b.length]!;
}
