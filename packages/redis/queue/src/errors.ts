/**
 * The queue scripts' reply codes and the typed errors they become. A negative code means the
 * script changed nothing.
 */
import {
  ConflictError,
  InternalError,
  type LeaderFence,
  type LeaseRef,
  type McpmasError,
  NotFoundError,
  staleLease,
  type TaskState,
} from '@mcpmas/core';

/** Negative reply codes of the queue's Lua scripts (`lua/includes/queue.lua`). */
export const ScriptCode = {
  /** Unknown task. */
  NotFound: -1,
  /** The report does not hold the task's current lease. Reply: code, state, agentId. */
  StaleLease: -2,
  /** The task is already terminal. Reply: code, state. */
  Terminal: -3,
  /** The leader fence is not the current leadership. */
  StaleFence: -4,
  /** The caller must declare more keys and run the script again (handled internally). */
  NeedKeys: -5,
} as const;

/** A value of {@link ScriptCode}. */
export type ScriptCode = (typeof ScriptCode)[keyof typeof ScriptCode];

/** What the caller knew when the script refused. */
export interface ScriptErrorContext {
  taskId?: string;
  ref?: LeaseRef;
  fence?: LeaderFence;
}

/** Turns a script's negative reply (`[code, ...details]`) into the typed mcpmas error. */
export function scriptError(reply: readonly unknown[], context: ScriptErrorContext): McpmasError {
  const code = Number(reply[0]);
  const taskId = context.taskId ?? context.ref?.taskId;
  switch (code) {
    case ScriptCode.NotFound:
      return new NotFoundError(`unknown task ${taskId}`, { details: { taskId } });
    case ScriptCode.StaleLease: {
      const state = String(reply[1]) as TaskState;
      const agentId = reply[2] ? String(reply[2]) : undefined;
      const ref = context.ref ?? { taskId: taskId ?? '', agentId: '', leaseToken: '' };
      return staleLease({ id: ref.taskId, state, ...(agentId ? { agentId } : {}) }, ref);
    }
    case ScriptCode.Terminal: {
      const state = String(reply[1]);
      return new ConflictError(`task ${taskId} is already ${state}`, { details: { taskId, state } });
    }
    case ScriptCode.StaleFence:
      return new ConflictError(
        `leader fence epoch ${context.fence?.epoch} of hub ${context.fence?.hubId} is stale`,
        { details: { fence: context.fence } },
      );
    default:
      return new InternalError(`queue script replied with unknown code ${code}`, { details: { reply } });
  }
}
