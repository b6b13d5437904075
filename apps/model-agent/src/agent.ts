/**
 * {@link startAgent}: composes the transport of the configured hub URLs (HTTP, WebSocket,
 * gRPC or MCP; several in order of preference), a built-in handler and the agent runtime from
 * a configuration, and starts them.
 */
import { hostname } from 'node:os';
import { createEchoHandler, createOpenAIChatHandler, ModelAgent, type TaskHandler } from '@mcpmas/agent';
import { createLogger } from '@mcpmas/cli-config';
import type { LeasedTask } from '@mcpmas/core';
import type { Logger } from 'pino';
import { type AgentConfig, hubEndpoints } from './config.js';
import { createHubTransport } from './endpoints.js';

/** A started agent. */
export interface RunningAgent {
  agent: ModelAgent;
  /** The id the hub knows this agent by. */
  agentId: string;
  /** Drains running tasks (up to `drainTimeoutMs`), unregisters and disconnects. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@link startAgent}. */
export interface StartAgentOptions {
  /** @default a pino logger at `config.logLevel` on stdout */
  logger?: Logger;
}

/** The handler a configuration names. */
export function handlerFor(config: AgentConfig): TaskHandler {
  if (config.handler === 'echo') return createEchoHandler({ delayMs: config.echoDelayMs });
  return createOpenAIChatHandler({
    baseUrl: config.openaiBaseUrl,
    // The schema makes openaiModel required with this handler.
    model: config.openaiModel!,
    timeoutMs: config.openaiTimeoutMs,
    ...(config.openaiApiKey ? { apiKey: config.openaiApiKey } : {}),
    ...(config.openaiMaxTokens !== undefined ? { maxTokens: config.openaiMaxTokens } : {}),
    ...(config.openaiTemperature !== undefined ? { temperature: config.openaiTemperature } : {}),
  });
}

/**
 * Builds the agent a configuration describes, without connecting. {@link startAgent} is this
 * plus `start()`; the CLI uses it to watch signals before the first connection attempt.
 */
export function createAgent(config: AgentConfig, logger: Logger): ModelAgent {
  const endpoints = hubEndpoints(config);
  let active = endpoints[0]!;
  const transport = createHubTransport(endpoints, {
    ...(config.apiKey ? { apiKey: config.apiKey } : {}),
    ...(config.grpcTlsCa !== undefined ? { grpcTlsCa: config.grpcTlsCa } : {}),
    requestTimeoutMs: config.requestTimeoutMs,
    probeIntervalMs: config.failoverProbeMs,
    onSwitch: (from, to, reason) => {
      active = to;
      logger.warn(
        { from: from.url, to: to.url, fromProtocol: from.protocol, toProtocol: to.protocol, reason },
        'hub endpoint switched',
      );
    },
  });
  const agent = new ModelAgent({
    transport,
    name: config.name,
    skills: config.skills,
    ...(config.agentId ? { agentId: config.agentId } : {}),
    metadata: {
      handler: config.handler,
      host: hostname(),
      pid: process.pid,
      ...(config.handler === 'openai' ? { model: config.openaiModel } : {}),
    },
    handler: handlerFor(config),
    concurrency: config.concurrency,
    pollWaitMs: config.pollWaitMs,
    drainTimeoutMs: config.drainTimeoutMs,
    logger: logger.child({ component: 'agent' }),
  });
  agent.on('task', (task: LeasedTask) =>
    logger.debug({ taskId: task.taskId, capability: task.capability, attempt: task.attempt }, 'task started'),
  );
  agent.on('result', (taskId: string, outcome: { status: string }) =>
    logger.info({ taskId, status: outcome.status }, 'task finished'),
  );
  agent.once('registered', (agentId: string) =>
    logger.info(
      {
        agentId,
        name: config.name,
        hubUrl: active.url,
        protocol: active.protocol,
        ...(endpoints.length > 1 ? { endpoints: endpoints.map((e) => e.url) } : {}),
        skills: config.skills.map((s) => s.id),
        handler: config.handler,
        concurrency: config.concurrency,
      },
      'agent ready',
    ),
  );
  return agent;
}

/**
 * Connects to the hub, registers and starts pulling tasks; logs one `agent ready` line. While
 * the hub is unreachable it keeps retrying with backoff; a refusal (a bad API key) rejects.
 *
 * @example
 * const { config } = loadAgentConfig(['--hub-url', url], {}, process.cwd());
 * const running = await startAgent(config);
 * // … later
 * await running.stop();
 */
export async function startAgent(
  config: AgentConfig,
  options: StartAgentOptions = {},
): Promise<RunningAgent> {
  const logger = options.logger ?? createLogger('mcpmas-agent', config.logLevel);
  const agent = createAgent(config, logger);
  try {
    await agent.start();
  } catch (error) {
    await agent.stop().catch(() => undefined);
    throw error;
  }
  return { agent, agentId: agent.agentId, stop: () => agent.stop() };
}
