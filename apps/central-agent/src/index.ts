/**
 * `@mcpmas/central-agent`: the `mcpmas-hub` app. Exported so it can be driven in-process
 * (tests, embedding): load a configuration, start a hub from it, run the command.
 *
 * @packageDocumentation
 */
export {
  ApiKeySettingSchema,
  type HubConfig,
  HubConfigSchema,
  hubConfigSpec,
  hubSettings,
  loadHubConfig,
  parseApiKeys,
} from './config.js';
export { type RunningHub, type StartHubOptions, startHub } from './hub.js';
export { main } from './main.js';
export {
  type ConfigIssue,
  type ConfigSpec,
  helpText,
  LOG_LEVELS,
  type LoadedConfig,
  type SettingSource,
  settingsMarkdown,
} from './settings.js';
