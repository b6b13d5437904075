/**
 * `@mcpmas/model-agent`: the `mcpmas-agent` app. Exported so it can be driven in-process
 * (tests, embedding): load a configuration, start an agent from it, run the command.
 *
 * @packageDocumentation
 */
export { createAgent, handlerFor, type RunningAgent, type StartAgentOptions, startAgent } from './agent.js';
export {
  type AgentConfig,
  AgentConfigSchema,
  agentConfigSpec,
  agentSettings,
  DEFAULT_SKILL,
  HANDLERS,
  type HandlerName,
  loadAgentConfig,
} from './config.js';
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
