/** The `mcpmas-agent` command, callable in-process: returns the exit code. */

import {
  createLogger,
  EXIT_CONFIG,
  EXIT_FAILURE,
  isConfigError,
  loadCommandConfig,
  logLoadedConfig,
  printConfigError,
  stopOnSignal,
} from '@mcpmas/cli-config';
import { createAgent, handlerFor } from './agent.js';
import { agentConfigSpec, agentSettings } from './config.js';

/**
 * Runs `mcpmas-agent` with these arguments until SIGTERM/SIGINT. Resolves with the exit
 * code: 0 after `--help` or a clean stop, 2 for a configuration error, 1 for a failure.
 */
export async function main(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): Promise<number> {
  // Handler options are checked before connecting, so a bad one is a config error too.
  const loaded = loadCommandConfig(agentConfigSpec, argv, env, cwd, handlerFor);
  if ('exitCode' in loaded) return loaded.exitCode;

  const { config } = loaded;
  const logger = createLogger('mcpmas-agent', config.logLevel);
  logLoadedConfig(logger, agentSettings, loaded);

  // Signals are watched before the first connection attempt: SIGTERM while the hub is still
  // unreachable stops the retries and exits cleanly.
  let agent: ReturnType<typeof createAgent>;
  try {
    agent = createAgent(config, logger);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    printConfigError(error, (line) => process.stderr.write(`${line}\n`));
    return EXIT_CONFIG;
  }
  const stopped = stopOnSignal(() => agent.stop(), logger, config.drainTimeoutMs + 10_000);
  logger.info({ hubUrl: config.hubUrl, protocol: config.protocol }, 'connecting to hub');
  try {
    await agent.start();
  } catch (error) {
    logger.fatal({ err: error }, 'agent failed to start');
    await agent.stop().catch(() => undefined);
    return isConfigError(error) ? EXIT_CONFIG : EXIT_FAILURE;
  }
  const code = await stopped;
  logger.info({ code }, 'agent exited');
  return code;
}
