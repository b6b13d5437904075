/**
 * The one table between mcpmas errors and MCP. Both directions live here, so the server and
 * the client can never disagree about what a failure looks like on the wire.
 *
 * | where the error happens | what the caller gets |
 * | --- | --- |
 * | `tools/call` (every core error: validation, auth, not found, conflict, too large, …) | a **tool error**: `isError: true`, `structuredContent: { error: SerializedError }`, a text line `CODE: message` |
 * | `resources/read` | a **JSON-RPC error** with the code of {@link JSON_RPC_CODE_BY_ERROR} and `data: { error: SerializedError }` |
 * | the MCP layer itself (unknown tool, malformed JSON-RPC, garbage or oversized body) | a JSON-RPC error from the SDK (`-32700`, `-32600`, `-32602`, …) |
 *
 * Auth is no exception: an unauthenticated or forbidden `tools/call` is a tool error with code
 * `UNAUTHENTICATED`/`FORBIDDEN`, decided by the dispatcher exactly as on every other protocol.
 */
import {
  ErrorCode,
  errorFromJSON,
  fromUnknown,
  InternalError,
  isErrorCode,
  type McpmasError,
  type SerializedError,
} from '@mcpmas/core';
import { type CallToolResult, ProtocolError } from '@modelcontextprotocol/server';

/**
 * JSON-RPC error code for each mcpmas error code, used where MCP has no tool-error channel
 * (`resources/read`). `-32602` (invalid params) is also what MCP uses for an unknown resource;
 * the mcpmas-specific codes sit in the implementation-defined server-error range
 * (`-32000` to `-32099`).
 */
export const JSON_RPC_CODE_BY_ERROR: Readonly<Record<ErrorCode, number>> = {
  [ErrorCode.Validation]: -32602,
  [ErrorCode.NotFound]: -32602,
  [ErrorCode.Unauthenticated]: -32001,
  [ErrorCode.Forbidden]: -32003,
  [ErrorCode.Conflict]: -32009,
  [ErrorCode.PayloadTooLarge]: -32013,
  [ErrorCode.RateLimited]: -32029,
  [ErrorCode.Unavailable]: -32053,
  [ErrorCode.Timeout]: -32054,
  [ErrorCode.Unsupported]: -32051,
  [ErrorCode.Config]: -32603,
  [ErrorCode.Internal]: -32603,
};

/** The `structuredContent` of a failed tool call. */
export interface ToolErrorContent {
  error: SerializedError;
}

/** Renders any thrown value as an MCP tool error carrying the serialised mcpmas error. */
export function toToolError(error: unknown): CallToolResult {
  const err = fromUnknown(error);
  const structuredContent: ToolErrorContent = { error: err.toJSON() };
  return {
    isError: true,
    content: [{ type: 'text', text: `${err.code}: ${err.message}` }],
    structuredContent: structuredContent as unknown as Record<string, unknown>,
  };
}

/** Renders any thrown value as the JSON-RPC error a `resources/read` answers with. */
export function toProtocolError(error: unknown): ProtocolError {
  const err = fromUnknown(error);
  return new ProtocolError(JSON_RPC_CODE_BY_ERROR[err.code] ?? -32603, err.message, { error: err.toJSON() });
}

/**
 * Rebuilds the mcpmas error of a tool error result. A tool error from a server that is not an
 * mcpmas hub (no serialised error) becomes an `InternalError` with its text.
 */
export function errorFromToolResult(result: CallToolResult): McpmasError {
  const structured = result.structuredContent as Partial<ToolErrorContent> | undefined;
  if (
    structured &&
    typeof structured === 'object' &&
    structured.error &&
    isErrorCode(structured.error.code)
  ) {
    return errorFromJSON(structured.error);
  }
  const text = result.content
    ?.map((block) => (block.type === 'text' ? block.text : ''))
    .join(' ')
    .trim();
  return new InternalError(`tool error from the MCP server: ${text || 'no message'}`);
}

/**
 * Rebuilds the mcpmas error of a JSON-RPC error: the serialised error in `data` when the hub
 * sent one, otherwise the closest code for a standard JSON-RPC error.
 */
export function errorFromProtocolError(code: number, message: string, data: unknown): McpmasError {
  const carried = (data as { error?: unknown } | undefined)?.error;
  if (carried && typeof carried === 'object' && isErrorCode((carried as { code?: unknown }).code)) {
    return errorFromJSON(carried);
  }
  const serialized: SerializedError = {
    code: code === -32602 || code === -32600 || code === -32700 ? ErrorCode.Validation : ErrorCode.Internal,
    message,
    retryable: false,
    details: { jsonRpcCode: code },
  };
  if (code === -32601) serialized.code = ErrorCode.Unsupported;
  return errorFromJSON(serialized);
}
