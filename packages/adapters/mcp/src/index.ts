/**
 * `@mcpmas/adapter-mcp`: the MCP protocol of mcpmas on the official MCP TypeScript SDK — the
 * hub's operations as MCP tools and resources over stateless Streamable HTTP (`mountMcp`) and
 * a stdio bridge (`mcpmas-mcp-stdio`), plus an MCP client transport (`McpTransport`).
 *
 * @packageDocumentation
 */
export { forwardTo, type StdioBridge, type StdioBridgeOptions, startStdioBridge } from './bridge.js';
export {
  errorFromProtocolError,
  errorFromToolResult,
  JSON_RPC_CODE_BY_ERROR,
  type ToolErrorContent,
  toProtocolError,
  toToolError,
} from './errors.js';
export {
  createMcpHttpHandler,
  DEFAULT_MCP_BODY_LIMIT,
  DEFAULT_MCP_MAX_BATCH,
  DEFAULT_MCP_PATH,
  type McpHttpEndpoint,
  type McpHttpOptions,
  mountMcp,
} from './http.js';
export {
  type CreateMcpServerOptions,
  createMcpServer,
  DEFAULT_PROGRESS_INTERVAL_MS,
  DEFAULT_SERVER_NAME,
  DEFAULT_SERVER_VERSION,
  type OperationCaller,
  RESOURCE_URIS,
} from './server.js';
export {
  advertisedSchema,
  jsonSchemaOf,
  MCP_TOOLS,
  TOOL_BY_OPERATION,
  TOOL_NAMES,
  ToolErrorContentSchema,
  type ToolName,
  type ToolRole,
  type ToolSpec,
  toolDescription,
  toolInputSchema,
  toolOutputSchema,
} from './tools.js';
export {
  createMcpClient,
  DEFAULT_MCP_TIMEOUT_MS,
  McpTransport,
  type McpTransportOptions,
} from './transport.js';
