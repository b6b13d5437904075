/**
 * `@mcpmas/central-agent`: the `mcpmas-hub` app. Exported so it can be driven in-process
 * (tests, embedding): load a configuration, start a hub from it, run the command.
 *
 * @packageDocumentation
 */

export {
  type ConfigIssue,
  type ConfigSpec,
  helpText,
  LOG_LEVELS,
  type LoadedConfig,
  type SettingSource,
  settingsMarkdown,
} from '@mcpmas/cli-config';
export {
  ApiKeySettingSchema,
  HUB_PROTOCOLS,
  type HubConfig,
  HubConfigSchema,
  type HubProtocol,
  hubConfigSpec,
  hubSettings,
  loadHubConfig,
  parseApiKeys,
  sizeInBytes,
} from './config.js';
export { type HubHttpAddress, HubHttpServer, type HubHttpServerOptions } from './http-server.js';
export { type RunningHub, type StartHubOptions, startHub } from './hub.js';
export { main } from './main.js';
