/**
 * The registry scripts' reply codes and their typed errors. A negative code means the script
 * changed nothing.
 */
import { ConflictError, type LeaderFence, type McpmasError, NotFoundError } from '@mcpmas/core';

/** Negative reply codes of the registry's Lua scripts (`lua/includes/codes.lua`). */
export const ScriptCode = {
  /** The agent is not registered. */
  NotFound: -1,
  /** The leader fence is not the current leadership. */
  StaleFence: -4,
} as const;

/** A value of {@link ScriptCode}. */
export type ScriptCode = (typeof ScriptCode)[keyof typeof ScriptCode];

/** What the caller knew when the script refused. */
export interface ScriptErrorContext {
  agentId?: string;
  fence?: LeaderFence;
}

/** Turns a script's negative reply code into the typed mcpmas error. */
export function scriptError(code: number, context: ScriptErrorContext): McpmasError {
  switch (code) {
    case ScriptCode.NotFound:
      return new NotFoundError(`unknown agent ${context.agentId}; register first`, {
        details: { agentId: context.agentId },
      });
    case ScriptCode.StaleFence:
      return new ConflictError(
        `leader fence epoch ${context.fence?.epoch} of hub ${context.fence?.hubId} is stale`,
        { details: { fence: context.fence } },
      );
    default:
      return new ConflictError(`registry script refused with code ${code}`, { details: { code } });
  }
}
