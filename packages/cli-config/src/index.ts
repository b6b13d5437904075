/**
 * `@mcpmas/cli-config`: the configuration machinery of the mcpmas commands (`mcpmas-hub`,
 * `mcpmas-agent`). A command describes its settings once, in a {@link SettingsTable}; from
 * that one table come the strict zod schema ({@link objectSchema}), the flags and `MCPMAS_*`
 * variables, `--help` ({@link helpText}) and the README table ({@link settingsMarkdown}).
 * {@link loadConfig} merges flags > environment > `.env` > JSON config file > defaults and
 * reports every bad value at once, naming the setting and where the value came from.
 *
 * @packageDocumentation
 */
export {
  createLogger,
  EXIT_CONFIG,
  EXIT_FAILURE,
  isConfigError,
  loadCommandConfig,
  logLoadedConfig,
  printConfigError,
  stopOnSignal,
} from './runtime.js';
export {
  CONFIG_FILE_ENV,
  type CommandLine,
  type ConfigIssue,
  type ConfigSpec,
  defaultOf,
  describeSource,
  ENV_FILE_ENV,
  envOf,
  flagOf,
  formatIssue,
  helpText,
  httpUrl,
  integer,
  LOG_LEVELS,
  type LoadedConfig,
  loadConfig,
  logLevelSetting,
  objectSchema,
  parseCommandLine,
  parseList,
  redact,
  resolveConfig,
  type Setting,
  type SettingKind,
  type SettingSource,
  type SettingsTable,
  settingsMarkdown,
} from './settings.js';
