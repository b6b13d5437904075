/**
 * The MCP tool table: one tool per core operation, named for people and models, with input
 * and output JSON Schemas generated from core's zod schemas. Nothing here knows about HTTP or
 * stdio.
 */
import { ErrorCode, type OperationName, operations } from '@mcpmas/core';
import type { StandardSchemaWithJSON, ToolAnnotations } from '@modelcontextprotocol/server';
import { z } from 'zod';

/** Who calls a tool: a client submitting and watching work, or an agent running it. */
export type ToolRole = 'client' | 'agent';

/** One row of {@link MCP_TOOLS}. */
export interface ToolSpec {
  /** The core operation the tool performs. */
  operation: OperationName;
  role: ToolRole;
  title: string;
  /** What the tool adds to the operation's one-line summary. */
  hint?: string;
  annotations: ToolAnnotations;
  /**
   * The request field holding a long-poll wait in milliseconds. While such a call waits, the
   * server sends progress notifications as keep-alives if the caller asked for progress.
   */
  waitField?: 'waitMs';
}

const readOnly: ToolAnnotations = { readOnlyHint: true, openWorldHint: false };
const write = (more: Partial<ToolAnnotations> = {}): ToolAnnotations => ({
  readOnlyHint: false,
  destructiveHint: false,
  openWorldHint: false,
  ...more,
});

/**
 * Every tool the hub serves, keyed by tool name. Arguments are exactly the operation's
 * request (same field names as every other protocol), and `structuredContent` is exactly its
 * reply. Ids are always explicit (`agentId`, `taskId`, `leaseToken`), so any hub instance can
 * serve any call: no session state, no sticky sessions.
 */
export const MCP_TOOLS = {
  submit_task: {
    operation: 'task.submit',
    role: 'client',
    title: 'Submit a task',
    hint: 'An idempotencyKey makes a retried submit return the existing task.',
    annotations: write(),
  },
  submit_batch: {
    operation: 'task.submit_batch',
    role: 'client',
    title: 'Submit a batch of tasks',
    hint: 'Either every task is accepted or none is.',
    annotations: write(),
  },
  get_batch: {
    operation: 'batch.get',
    role: 'client',
    title: 'Get a batch',
    annotations: readOnly,
  },
  get_task_result: {
    operation: 'task.get',
    role: 'client',
    title: 'Get a task and its result',
    hint: 'With waitMs the call waits until the task is terminal or the time is up.',
    annotations: readOnly,
    waitField: 'waitMs',
  },
  cancel_task: {
    operation: 'task.cancel',
    role: 'client',
    title: 'Cancel a task',
    annotations: write({ destructiveHint: true, idempotentHint: false }),
  },
  list_agents: {
    operation: 'agents.status',
    role: 'client',
    title: 'List agents',
    annotations: readOnly,
  },
  register_agent: {
    operation: 'agent.register',
    role: 'agent',
    title: 'Register an agent',
    hint: 'Send the same agentId again to refresh a registration.',
    annotations: write({ idempotentHint: true }),
  },
  heartbeat: {
    operation: 'agent.heartbeat',
    role: 'agent',
    title: 'Heartbeat',
    annotations: write({ idempotentHint: true }),
  },
  unregister_agent: {
    operation: 'agent.unregister',
    role: 'agent',
    title: 'Unregister an agent',
    annotations: write({ destructiveHint: true }),
  },
  next_task: {
    operation: 'task.next',
    role: 'agent',
    title: 'Lease the next task',
    hint:
      'With waitMs the call long-polls until a task arrives or the time is up; send a progress ' +
      'token to receive keep-alive progress notifications while it waits.',
    annotations: write(),
    waitField: 'waitMs',
  },
  report_progress: {
    operation: 'task.progress',
    role: 'agent',
    title: 'Report progress',
    hint: 'Also extends the lease.',
    annotations: write({ idempotentHint: true }),
  },
  complete_task: {
    operation: 'task.result',
    role: 'agent',
    title: 'Complete a task',
    hint: 'Report status "succeeded" with a result or "failed" with an error, with the lease token.',
    annotations: write(),
  },
} as const satisfies Record<string, ToolSpec>;

/** Name of an mcpmas MCP tool. */
export type ToolName = keyof typeof MCP_TOOLS;

/** Every tool name, in table order. */
export const TOOL_NAMES = Object.keys(MCP_TOOLS) as ToolName[];

/** The tool that performs each core operation. */
export const TOOL_BY_OPERATION: Readonly<Record<OperationName, ToolName>> = Object.fromEntries(
  TOOL_NAMES.map((name) => [MCP_TOOLS[name].operation, name]),
) as Record<OperationName, ToolName>;

/** The description `tools/list` shows for a tool: summary, hint and the scope it needs. */
export function toolDescription(name: ToolName): string {
  const spec: ToolSpec = MCP_TOOLS[name];
  const op = operations[spec.operation];
  const parts = [`${op.summary}.`, spec.hint, `(${spec.role} tool; needs API-key scope ${op.scope})`];
  return parts.filter(Boolean).join(' ');
}

const JSON_SCHEMA_TARGET = 'draft-2020-12';

/**
 * The JSON Schema of a core zod schema as MCP advertises it. MCP wants `type: "object"` at
 * the root; a discriminated union (`task.result`) gets it next to its `oneOf`.
 */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: JSON_SCHEMA_TARGET, io }) as Record<string, unknown>;
  return json.type === undefined ? { type: 'object', ...json } : json;
}

/**
 * The `structuredContent` of a failed call: the serialised mcpmas error. Part of every tool's
 * output schema, because stock clients (the MCP Inspector among them) validate error results
 * against it too.
 */
export const ToolErrorContentSchema = z.object({
  error: z.object({
    code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    retryable: z.boolean(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** The input JSON Schema of a tool: the operation's request. */
export function toolInputSchema(name: ToolName): Record<string, unknown> {
  return jsonSchemaOf(operations[MCP_TOOLS[name].operation].request, 'input');
}

/**
 * The output JSON Schema of a tool: the operation's reply on success, `{ error }` on failure
 * (`isError: true`).
 */
export function toolOutputSchema(name: ToolName): Record<string, unknown> {
  const { $schema, ...reply } = jsonSchemaOf(operations[MCP_TOOLS[name].operation].reply, 'output');
  const { $schema: _, ...failure } = jsonSchemaOf(ToolErrorContentSchema, 'output');
  return { $schema, type: 'object', anyOf: [reply, failure] };
}

/**
 * A Standard Schema that advertises `json` and accepts any value. Tool arguments are validated
 * once, by the dispatcher, with core's zod schemas — so a bad argument comes back as the same
 * `VALIDATION` error naming the field as on every other protocol, not as the SDK's own text.
 */
export function advertisedSchema(json: Record<string, unknown>): StandardSchemaWithJSON<unknown, unknown> {
  return {
    '~standard': {
      version: 1,
      vendor: 'mcpmas',
      validate: (value: unknown) => ({ value }),
      jsonSchema: { input: () => json, output: () => json },
    },
  };
}
