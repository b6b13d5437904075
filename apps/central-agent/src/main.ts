/** The `mcpmas-hub` command, callable in-process: returns the exit code. */

import {
  createLogger,
  EXIT_CONFIG,
  EXIT_FAILURE,
  isConfigError,
  loadCommandConfig,
  logLoadedConfig,
  stopOnSignal,
} from '@mcpmas/cli-config';
import { hubConfigSpec, hubSettings } from './config.js';
import { startHub } from './hub.js';

/** Longest graceful shutdown before the process gives up and exits with 1. */
const SHUTDOWN_TIMEOUT_MS = 30_000;

/**
 * Runs `mcpmas-hub` with these arguments until SIGTERM/SIGINT. Resolves with the exit code:
 * 0 after `--help` or a clean stop, 2 for a configuration error, 1 for a failure.
 */
export async function main(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): Promise<number> {
  const loaded = loadCommandConfig(hubConfigSpec, argv, env, cwd);
  if ('exitCode' in loaded) return loaded.exitCode;

  const { config } = loaded;
  const logger = createLogger('mcpmas-hub', config.logLevel);
  logLoadedConfig(logger, hubSettings, loaded);
  let running: Awaited<ReturnType<typeof startHub>>;
  try {
    running = await startHub(config, { logger });
  } catch (error) {
    logger.fatal({ err: error }, 'hub failed to start');
    return isConfigError(error) ? EXIT_CONFIG : EXIT_FAILURE;
  }
  const code = await stopOnSignal(() => running.stop(), logger, SHUTDOWN_TIMEOUT_MS);
  logger.info({ code }, 'hub exited');
  return code;
}
