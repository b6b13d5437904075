/**
 * `@mcpmas/model-agent`: the `mcpmas-agent` app. Exported so it can be driven in-process
 * (tests, embedding): load a configuration, start an agent from it, run the command.
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
export { createAgent, handlerFor, type RunningAgent, type StartAgentOptions, startAgent } from './agent.js';
export {
  type AgentConfig,
  AgentConfigSchema,
  agentConfigSpec,
  agentSettings,
  DEFAULT_SKILL,
  HANDLERS,
  type HandlerName,
  hubEndpoints,
  loadAgentConfig,
} from './config.js';
export {
  AGENT_PROTOCOLS,
  type AgentProtocol,
  ConnectLater,
  createHubTransport,
  createTransport,
  DEFAULT_GRPC_URL_PORT,
  type HubEndpoint,
  type HubTransportOptions,
  type ProtocolSetting,
  parseHubUrl,
  type TransportOptions,
} from './endpoints.js';
export { main } from './main.js';
