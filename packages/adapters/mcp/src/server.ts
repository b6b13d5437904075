/**
 * {@link createMcpServer}: the hub's operations as MCP tools and resources on one
 * `McpServer`. The tool layer is written once over an {@link OperationCaller}, so the same
 * code serves the in-hub Streamable HTTP endpoint (calling the dispatcher) and the stdio
 * bridge (calling a hub over HTTP).
 */
import type { CallContext, Dispatcher, OperationName } from '@mcpmas/core';
import {
  type CallToolResult,
  McpServer,
  type ReadResourceResult,
  ResourceTemplate,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { toProtocolError, toToolError } from './errors.js';
import {
  advertisedSchema,
  MCP_TOOLS,
  TOOL_NAMES,
  type ToolName,
  type ToolSpec,
  toolDescription,
  toolInputSchema,
  toolOutputSchema,
} from './tools.js';

/**
 * Performs one operation: `(operation, request, context) => reply`. A dispatcher's `dispatch`
 * is one; the stdio bridge's forwarding to a hub over HTTP is another.
 */
export type OperationCaller = (
  operation: OperationName,
  request: unknown,
  context: CallContext,
) => Promise<unknown>;

/** Server name reported to MCP clients. */
export const DEFAULT_SERVER_NAME = 'mcpmas-hub';
/** Server version reported to MCP clients. */
export const DEFAULT_SERVER_VERSION = '0.1.0';
/** How often a waiting long-poll sends a keep-alive progress notification. */
export const DEFAULT_PROGRESS_INTERVAL_MS = 10_000;

/** Options of {@link createMcpServer}. */
export interface CreateMcpServerOptions {
  /** Name in the server info. @default 'mcpmas-hub' */
  name?: string;
  /** Version in the server info. @default '0.1.0' */
  version?: string;
  /**
   * Context of every call this instance serves: `credentials` (the caller's API key),
   * `traceparent`, `requestId`, `remoteAddress`. `protocol` defaults to `mcp`; the per-call
   * abort signal is added from the MCP request.
   */
  context?: Partial<CallContext>;
  /**
   * While `next_task` (or `get_task_result` with `waitMs`) waits, a progress notification is
   * sent this often when the caller supplied a progress token, so intermediaries and clients
   * with idle timeouts keep the call open. `0` turns keep-alives off. @default 10000
   */
  progressIntervalMs?: number;
}

/** Resource URIs of the hub. */
export const RESOURCE_URIS = {
  agents: 'mcpmas://agents',
  task: 'mcpmas://tasks/{taskId}',
  batch: 'mcpmas://batches/{batchId}',
} as const;

/**
 * Builds an MCP server whose tools map 1:1 onto the core operations (see `MCP_TOOLS`) and
 * whose resources are the agent list (`mcpmas://agents`) and each task and batch
 * (`mcpmas://tasks/{taskId}`, `mcpmas://batches/{batchId}`). Tool arguments are the operation's
 * request; `structuredContent` is its reply, with a JSON text rendering beside it. Core errors
 * become tool errors (resource reads: JSON-RPC errors) — see `errors.ts` for the one table.
 *
 * The server holds no state between calls, so one instance per HTTP request (stateless
 * Streamable HTTP) and one per stdio connection both work.
 *
 * @param target - the dispatcher, or any {@link OperationCaller}
 */
export function createMcpServer(
  target: Dispatcher | OperationCaller,
  options: CreateMcpServerOptions = {},
): McpServer {
  const call: OperationCaller =
    typeof target === 'function'
      ? target
      : (operation, request, context) => target.dispatch(operation, request, context);
  const intervalMs = options.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
  const server = new McpServer(
    { name: options.name ?? DEFAULT_SERVER_NAME, version: options.version ?? DEFAULT_SERVER_VERSION },
    {
      capabilities: { tools: { listChanged: false }, resources: { listChanged: false } },
      instructions:
        'mcpmas hub. Clients: submit_task / submit_batch, then get_task_result (waitMs to wait). ' +
        'Agents: register_agent, heartbeat, next_task (waitMs to long-poll), report_progress, complete_task. ' +
        'Every call names its ids explicitly; authenticate with an API key (Authorization: Bearer).',
    },
  );

  const contextOf = (ctx: ServerContext): CallContext => ({
    ...options.context,
    protocol: options.context?.protocol ?? 'mcp',
    signal: ctx.mcpReq.signal,
  });

  for (const name of TOOL_NAMES) {
    const spec: ToolSpec = MCP_TOOLS[name];
    const schemas = advertisedSchemas(name);
    server.registerTool(
      name,
      {
        title: spec.title,
        description: toolDescription(name),
        inputSchema: schemas.input,
        outputSchema: schemas.output,
        annotations: spec.annotations,
      },
      async (args: unknown, ctx: ServerContext): Promise<CallToolResult> => {
        const stopKeepAlive = spec.waitField ? keepAlive(ctx, args, spec.waitField, intervalMs) : undefined;
        try {
          const reply = await call(spec.operation, args ?? {}, contextOf(ctx));
          return {
            content: [{ type: 'text', text: JSON.stringify(reply) }],
            structuredContent: reply as Record<string, unknown>,
          };
        } catch (error) {
          return toToolError(error);
        } finally {
          stopKeepAlive?.();
        }
      },
    );
  }

  const readJson = async (
    uri: URL,
    ctx: ServerContext,
    operation: OperationName,
    request: unknown,
  ): Promise<ReadResourceResult> => {
    let reply: unknown;
    try {
      reply = await call(operation, request, contextOf(ctx));
    } catch (error) {
      throw toProtocolError(error);
    }
    return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(reply) }] };
  };

  server.registerResource(
    'agents',
    RESOURCE_URIS.agents,
    {
      title: 'Agents',
      description: 'Every registered agent with its skills and liveness (the list_agents reply).',
      mimeType: 'application/json',
    },
    (uri, ctx) => readJson(uri, ctx, 'agents.status', {}),
  );
  server.registerResource(
    'task',
    new ResourceTemplate(RESOURCE_URIS.task, { list: undefined }),
    {
      title: 'Task',
      description: 'One task: state, progress and result (the get_task_result reply).',
      mimeType: 'application/json',
    },
    (uri, variables, ctx) => readJson(uri, ctx, 'task.get', { taskId: single(variables.taskId) }),
  );
  server.registerResource(
    'batch',
    new ResourceTemplate(RESOURCE_URIS.batch, { list: undefined }),
    {
      title: 'Batch',
      description: 'One batch: its tasks and aggregate status (the get_batch reply).',
      mimeType: 'application/json',
    },
    (uri, variables, ctx) => readJson(uri, ctx, 'batch.get', { batchId: single(variables.batchId) }),
  );

  return server;
}

type AdvertisedSchema = ReturnType<typeof advertisedSchema>;
const advertised = new Map<ToolName, { input: AdvertisedSchema; output: AdvertisedSchema }>();

/**
 * A tool's input and output schemas as registered, converted from core's zod schemas once per
 * process: a server is built for every stateless HTTP request, and converting 11 tools' schemas
 * each time cost more than half of each request's CPU. Frozen, as every server shares them.
 * @internal exported for tests
 */
export function advertisedSchemas(name: ToolName): { input: AdvertisedSchema; output: AdvertisedSchema } {
  let schemas = advertised.get(name);
  if (!schemas) {
    schemas = {
      input: advertisedSchema(deepFreeze(toolInputSchema(name))),
      output: advertisedSchema(deepFreeze(toolOutputSchema(name))),
    };
    advertised.set(name, schemas);
  }
  return schemas;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function single(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v === undefined ? undefined : decodeURIComponent(v);
}

/**
 * Sends `notifications/progress` every `intervalMs` while a long-poll waits, if the caller
 * asked for progress (a progress token) and the call waits at all. Returns the stop function.
 */
function keepAlive(ctx: ServerContext, args: unknown, field: string, intervalMs: number): () => void {
  const token = ctx.mcpReq._meta?.progressToken;
  const waitMs = (args as Record<string, unknown> | undefined)?.[field];
  if (token === undefined || intervalMs <= 0 || typeof waitMs !== 'number' || waitMs <= 0) return () => {};
  let progress = 0;
  const timer = setInterval(() => {
    progress += 1;
    ctx.mcpReq
      .notify({
        method: 'notifications/progress',
        params: { progressToken: token, progress, message: 'waiting' },
      })
      // A failed send means the caller went away; the abort signal then ends the wait.
      .catch(() => undefined);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
