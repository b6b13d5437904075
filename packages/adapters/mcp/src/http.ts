/**
 * Streamable HTTP at `/mcp`, stateless: every POST is served by a fresh server instance from
 * {@link createMcpServer} (the SDK's `createMcpHandler`), so any hub instance can answer any
 * request and no sticky sessions are needed. GET and DELETE (session operations) answer 405.
 */
import type { IncomingMessage } from 'node:http';
import {
  type CallContext,
  type Dispatcher,
  jsonProblem,
  MAX_JSON_DEPTH,
  TraceparentSchema,
} from '@mcpmas/core';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { type AuthInfo, createMcpHandler } from '@modelcontextprotocol/server';
import type { Express, Request, RequestHandler, Response } from 'express';
import { type CreateMcpServerOptions, createMcpServer, type OperationCaller } from './server.js';

/** Where {@link mountMcp} serves MCP by default. */
export const DEFAULT_MCP_PATH = '/mcp';
/** Largest request body read, in bytes (the HTTP adapter's default body limit too). */
export const DEFAULT_MCP_BODY_LIMIT = 1024 * 1024;
/** Most messages accepted in one JSON-RPC batch (2025-03-26 clients may batch). */
export const DEFAULT_MCP_MAX_BATCH = 32;

/** Options of {@link createMcpHttpHandler} and {@link mountMcp}. */
export interface McpHttpOptions extends Omit<CreateMcpServerOptions, 'context'> {
  /** Path {@link mountMcp} serves. @default '/mcp' */
  path?: string;
  /** Largest request body in bytes; a larger one gets a JSON-RPC error with HTTP 413. @default 1048576 */
  bodyLimit?: number;
  /** Most messages in one JSON-RPC batch; more is refused with `-32600`. @default 32 */
  maxBatch?: number;
  /**
   * Response shape of a call: `auto` answers with one JSON body unless the call sends
   * progress first (then SSE), `sse` always streams, `json` never does (and drops keep-alive
   * progress). @default 'auto'
   */
  responseMode?: 'auto' | 'sse' | 'json';
  /** Told about errors the MCP layer answers on its own (bad requests, internal failures). */
  onError?: (error: Error) => void;
}

/** A mounted MCP endpoint. */
export interface McpHttpEndpoint {
  /** The express handler serving POST, GET and DELETE. */
  handler: RequestHandler;
  /** Ends in-flight calls and their waits. The HTTP server itself is not touched. */
  close(): Promise<void>;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
/** Where the per-request call context rides from express into the server factory. */
const CONTEXT_KEY = 'mcpmasContext';

/**
 * The express handler of a stateless MCP endpoint over `target`. The caller's API key comes
 * from `Authorization: Bearer <key>` and is checked by the dispatcher on every tool call, as
 * on every other protocol: a missing or wrong key, or a missing scope, is a tool error with
 * code `UNAUTHENTICATED` or `FORBIDDEN` (not an HTTP 401, which would send stock MCP clients
 * into an OAuth flow the hub does not offer). Listing tools and resources needs no key.
 */
export function createMcpHttpHandler(
  target: Dispatcher | OperationCaller,
  options: McpHttpOptions = {},
): McpHttpEndpoint {
  const { path: _path, bodyLimit, maxBatch, responseMode, onError, ...serverOptions } = options;
  const limit = bodyLimit ?? DEFAULT_MCP_BODY_LIMIT;
  const batchLimit = maxBatch ?? DEFAULT_MCP_MAX_BATCH;
  const mcp = createMcpHandler(
    (ctx) => {
      const carried = ctx.authInfo?.extra?.[CONTEXT_KEY] as Partial<CallContext> | undefined;
      return createMcpServer(target, { ...serverOptions, context: { ...carried, protocol: 'mcp' } });
    },
    {
      legacy: 'stateless',
      responseMode: responseMode ?? 'auto',
      maxRequestBodySize: limit,
      ...(onError ? { onerror: onError } : {}),
    },
  );
  const serve = toNodeHandler(mcp, {
    maxRequestBodySize: limit,
    ...(onError ? { onerror: onError } : {}),
  });

  const handler: RequestHandler = async (req, res) => {
    if (req.method === 'POST') {
      const body = await readJsonBody(req, res, limit, batchLimit);
      if (body === undefined) return;
      (req as IncomingMessage & { auth?: AuthInfo }).auth = authInfoOf(req, res);
      await serve(req, res, body.value);
      return;
    }
    await serve(req, res);
  };

  return { handler, close: () => mcp.close() };
}

/**
 * Serves MCP at `options.path` (default `/mcp`) on an express app — for
 * `HttpServerAdapter({ mount: (app) => mountMcp(app, dispatcher) })`, so MCP shares the hub's
 * HTTP server, port and shutdown. The adapter's JSON parser does not run on mounted routes;
 * this endpoint reads and limits its own body.
 */
export function mountMcp(
  app: Express,
  target: Dispatcher | OperationCaller,
  options: McpHttpOptions = {},
): McpHttpEndpoint {
  const endpoint = createMcpHttpHandler(target, options);
  const path = options.path ?? DEFAULT_MCP_PATH;
  app.post(path, endpoint.handler);
  app.get(path, endpoint.handler);
  app.delete(path, endpoint.handler);
  app.all(path, (_req, res) => {
    res.set('Allow', 'GET, POST, DELETE');
    rpcError(res, 405, -32000, 'Method not allowed.');
  });
  return endpoint;
}

/**
 * Deepest nesting of a JSON-RPC body: task JSON at its limit inside the envelope (a batch, the
 * message, its params, the tool's arguments, a batch of tasks, a task, its metadata). Deeper
 * bodies are refused before the SDK sees them: it serialises the parsed body again, and a few
 * thousand levels exhaust the stack there. A task field nested past {@link MAX_JSON_DEPTH}
 * reaches the dispatcher, which refuses it naming the field (the tool answers with that error).
 */
const MAX_BODY_DEPTH = MAX_JSON_DEPTH + 8;

/**
 * Reads a POST body as JSON, answering malformed ones itself with a JSON-RPC error: too large
 * (413), not JSON (`-32700`), an empty or oversized batch or nesting deeper than
 * {@link MAX_BODY_DEPTH} (`-32600`). Returns undefined when it answered.
 */
async function readJsonBody(
  req: Request,
  res: Response,
  limit: number,
  maxBatch: number,
): Promise<{ value: unknown } | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    rpcError(res, 413, -32600, `request body is larger than the limit of ${limit} bytes`, true);
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      size += buf.length;
      if (size > limit) {
        rpcError(res, 413, -32600, `request body is larger than the limit of ${limit} bytes`, true);
        return undefined;
      }
      chunks.push(buf);
    }
  } catch {
    // The client went away mid-body: nobody is left to answer.
    res.destroy();
    return undefined;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    rpcError(res, 400, -32700, `Parse error: ${(error as Error).message}`);
    return undefined;
  }
  const problem = jsonProblem(value, MAX_BODY_DEPTH);
  if (problem) {
    // The reply names the message's id when there is one message with an id to name.
    const id = (value as { id?: unknown } | null)?.id;
    rpcError(
      res,
      400,
      -32600,
      `Invalid Request: ${problem.path.join('.') || 'the body'}: ${problem.message}`,
      false,
      !Array.isArray(value) && (typeof id === 'string' || typeof id === 'number') ? id : null,
    );
    return undefined;
  }
  if (Array.isArray(value) && (value.length === 0 || value.length > maxBatch)) {
    const why = value.length === 0 ? 'an empty batch' : `a batch of more than ${maxBatch} messages`;
    rpcError(res, 400, -32600, `Invalid Request: ${why} is not accepted`);
    return undefined;
  }
  return { value };
}

function rpcError(
  res: Response,
  status: number,
  code: number,
  message: string,
  close = false,
  id: string | number | null = null,
): void {
  if (close) res.set('Connection', 'close');
  res.status(status).json({ jsonrpc: '2.0', id, error: { code, message } });
}

/**
 * The pass-through `authInfo` of one request: the raw API key (verified later by the
 * dispatcher, never here) and the rest of the call context from the HTTP request.
 */
function authInfoOf(req: Request, res: Response): AuthInfo {
  const context: Partial<CallContext> = {};
  const credentials = BEARER.exec(req.get('authorization') ?? '')?.[1];
  if (credentials) context.credentials = credentials;
  const traceparent = req.get('traceparent')?.trim();
  if (traceparent && TraceparentSchema.safeParse(traceparent).success) context.traceparent = traceparent;
  const requestId = req.get('x-request-id') ?? (res.locals.requestId as string | undefined);
  if (requestId && REQUEST_ID.test(requestId)) context.requestId = requestId;
  if (req.socket.remoteAddress) context.remoteAddress = req.socket.remoteAddress;
  return {
    token: credentials ?? '',
    clientId: 'mcpmas-api-key',
    scopes: [],
    extra: { [CONTEXT_KEY]: context },
  };
}
