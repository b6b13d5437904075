/**
 * What every mcpmas CLI does around its app: a pino logger, printing configuration errors, and a
 * graceful stop on SIGTERM/SIGINT.
 */
import { ConfigError } from '@mcpmas/core';
import { type Logger, pino } from 'pino';
import {
  type ConfigIssue,
  type ConfigSpec,
  describeSource,
  formatIssue,
  helpText,
  type LoadedConfig,
  parseCommandLine,
  redact,
  resolveConfig,
  type SettingsTable,
} from './settings.js';

/** Exit code for a configuration error. */
export const EXIT_CONFIG = 2;
/** Exit code for a failure at start-up or during shutdown. */
export const EXIT_FAILURE = 1;

/** A JSON-lines logger on stdout (synchronous, so nothing is lost on exit). */
export function createLogger(name: string, level: string): Logger {
  return pino({ name, level, timestamp: pino.stdTimeFunctions.isoTime });
}

/**
 * Logs `configuration loaded`: the configuration with secrets masked, where each setting that
 * is not a default came from, and the `.env` / config files read.
 */
export function logLoadedConfig<Out extends Record<string, unknown>>(
  logger: Logger,
  settings: SettingsTable,
  loaded: LoadedConfig<Out>,
): void {
  logger.info(
    {
      config: redact(settings, loaded.config),
      from: Object.fromEntries(
        Object.entries(loaded.sources)
          .filter(([, source]) => source.kind !== 'default')
          .map(([key, source]) => [key, describeSource(source)]),
      ),
      ...loaded.files,
    },
    'configuration loaded',
  );
}

/** Writes `config error: <setting> (<source>): <message>`, one line per problem. */
export function printConfigError(error: ConfigError, write: (line: string) => void): void {
  const issues = (error.details?.issues ?? []) as ConfigIssue[];
  if (issues.length === 0) write(`config error: ${error.message}`);
  else for (const issue of issues) write(`config error: ${formatIssue(issue)}`);
  if (!/--help/.test(error.message)) write('run with --help to list every setting');
}

/** True for a configuration error (also one thrown by a package's constructor). */
export function isConfigError(error: unknown): error is ConfigError {
  return error instanceof ConfigError || (error as { code?: unknown })?.code === 'CONFIG';
}

/**
 * Resolves once SIGTERM or SIGINT arrives and `stop` has finished: with 0, or 1 if `stop`
 * failed or took longer than `timeoutMs`. A second signal exits at once with 1.
 */
export function stopOnSignal(stop: () => Promise<void>, logger: Logger, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal; exiting without finishing shutdown');
        process.exit(EXIT_FAILURE);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const timer = setTimeout(() => {
        logger.error({ timeoutMs }, 'shutdown took too long; exiting');
        resolve(EXIT_FAILURE);
      }, timeoutMs);
      timer.unref();
      stop().then(
        () => {
          clearTimeout(timer);
          resolve(0);
        },
        (error: unknown) => {
          clearTimeout(timer);
          logger.error({ err: error }, 'shutdown failed');
          resolve(EXIT_FAILURE);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/**
 * The front of a command: parses `argv`, prints `--help` (exit code 0) or a configuration
 * error (exit code {@link EXIT_CONFIG}), else resolves the configuration. `check` may
 * validate further before anything starts; a `ConfigError` it throws is a configuration
 * error too. Any other error is thrown.
 *
 * ```ts
 * const loaded = loadCommandConfig(hubConfigSpec, argv, env, cwd);
 * if ('exitCode' in loaded) return loaded.exitCode;
 * ```
 */
export function loadCommandConfig<Out>(
  spec: ConfigSpec<Out>,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  check?: (config: Out) => void,
  write: (text: string) => void = (text) => process.stdout.write(text),
  writeError: (text: string) => void = (text) => process.stderr.write(text),
): LoadedConfig<Out> | { exitCode: number } {
  try {
    const commandLine = parseCommandLine(spec.settings, argv);
    if (commandLine.help) {
      write(`${helpText(spec)}\n`);
      return { exitCode: 0 };
    }
    const loaded = resolveConfig(spec, commandLine, env, cwd);
    check?.(loaded.config);
    return loaded;
  } catch (error) {
    if (!isConfigError(error)) throw error;
    printConfigError(error, (line) => writeError(`${line}\n`));
    return { exitCode: EXIT_CONFIG };
  }
}
