/**
 * The `echo` handler: returns the task's payload together with who ran it, so demos and
 * smoke tests can see which agent took which task and on which attempt.
 */
import { sleep } from '@mcpmas/core';
import type { TaskHandler } from '../agent.js';

/** What {@link echoHandler} returns. */
export interface EchoResult {
  /** The task's payload, unchanged. */
  echo: unknown;
  /** Id of the agent that ran the task. */
  agentId: string;
  /** 1 on the first run; higher on retries. */
  attempt: number;
}

/** Options of {@link createEchoHandler}. */
export interface EchoHandlerOptions {
  /**
   * Pretend to work this long before answering (ends early, failing the task, when the
   * task is cancelled). Useful to watch several agents share a queue. @default 0
   */
  delayMs?: number;
}

/**
 * Creates an echo handler, optionally slowed down by `delayMs`.
 *
 * @example
 * new ModelAgent({ transport, name: 'slow-echo', skills, handler: createEchoHandler({ delayMs: 200 }) });
 */
export function createEchoHandler(options: EchoHandlerOptions = {}): TaskHandler {
  const delayMs = options.delayMs ?? 0;
  if (!Number.isFinite(delayMs) || delayMs < 0) {
    throw new TypeError(`delayMs must be a number >= 0, got ${options.delayMs}`);
  }
  return async (task, context): Promise<EchoResult> => {
    if (delayMs > 0) await sleep(delayMs, context.signal);
    return { echo: task.payload, agentId: context.agentId, attempt: context.attempt };
  };
}

/** Returns `{ echo: payload, agentId, attempt }` at once. */
export const echoHandler: TaskHandler = createEchoHandler();
