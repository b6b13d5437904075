/**
 * `@mcpmas/agent`: the model-agent runtime over any transport.
 *
 * @packageDocumentation
 */
export {
  type AgentLogger,
  type AgentStats,
  ModelAgent,
  type ModelAgentOptions,
  type TaskContext,
  TaskFailure,
  type TaskHandler,
} from './agent.js';
export { type FailoverOptions, FailoverTransport } from './failover.js';
export * from './handlers/index.js';
