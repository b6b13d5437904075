/**
 * Test helpers: a real hub (memory backend + dispatcher) behind the HTTP adapter on 127.0.0.1
 * port 0 with MCP mounted at /mcp, and a raw HTTP client for requests no MCP client would send.
 */

import { HttpServerAdapter } from '@mcpmas/adapter-http';
import {
  ApiKeyAuthenticator,
  type Backend,
  type CallContext,
  createDispatcher,
  createMemoryBackend,
  type Dispatcher,
  type HubDispatcher,
  type OperationName,
  PluginHost,
} from '@mcpmas/core';
import { type McpHttpEndpoint, type McpHttpOptions, mountMcp } from '../src/index.js';

/** API keys of the test hub. */
export const KEYS = { admin: 'mcp-admin-key-000001', reader: 'mcp-reader-key-00002' } as const;

/** A running hub under test. */
export interface TestHub {
  backend: Backend;
  dispatcher: HubDispatcher;
  /** Base URL of the HTTP server, e.g. `http://127.0.0.1:1234`. */
  url: string;
  /** The MCP endpoint, `<url>/mcp`. */
  mcpUrl: string;
  /** Call contexts the dispatcher saw, newest last. */
  contexts: Array<{ operation: OperationName; context: CallContext }>;
  close(): Promise<void>;
}

/** Binds an HttpServerAdapter with MCP mounted to `dispatcher`, on 127.0.0.1 port 0. */
export async function serveMcp(
  dispatcher: Dispatcher,
  options: McpHttpOptions = {},
): Promise<{ url: string; mcpUrl: string; close(): Promise<void> }> {
  let endpoint: McpHttpEndpoint | undefined;
  const server = new HttpServerAdapter({
    port: 0,
    mount: (app) => {
      endpoint = mountMcp(app, dispatcher, options);
    },
  });
  await server.start(dispatcher);
  const { url } = server.address();
  return {
    url,
    mcpUrl: `${url}/mcp`,
    async close() {
      await endpoint?.close();
      await server.stop();
    },
  };
}

/** Starts a memory hub with API keys, MCP mounted on its HTTP server. */
export async function startHub(options: McpHttpOptions = {}): Promise<TestHub> {
  const backend = createMemoryBackend({ queue: { crashBackoff: { baseMs: 0, maxMs: 0, jitter: 0 } } });
  const contexts: TestHub['contexts'] = [];
  const dispatcher = createDispatcher({
    registry: backend.registry,
    queue: backend.queue,
    plugins: new PluginHost([
      {
        name: 'context-recorder',
        around: (call, next) => {
          contexts.push({ operation: call.operation, context: call.context });
          return next();
        },
      },
    ]),
    auth: new ApiKeyAuthenticator([
      { id: 'admin', key: KEYS.admin, scopes: ['admin'] },
      { id: 'reader', key: KEYS.reader, scopes: ['task:read'] },
    ]),
    limits: { maxPayloadBytes: 64 * 1024 },
  });
  const served = await serveMcp(dispatcher, options);
  return {
    backend,
    dispatcher,
    url: served.url,
    mcpUrl: served.mcpUrl,
    contexts,
    async close() {
      dispatcher.close();
      await served.close();
      await backend.close();
    },
  };
}

/** What a raw request got back. */
export interface RawReply {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** A raw POST (or other method) to `url` with `body` sent as is. */
export async function raw(
  url: string,
  body: string | undefined,
  { method = 'POST', headers = {} }: { method?: string; headers?: Record<string, string> } = {},
): Promise<RawReply> {
  const res = await fetch(url, {
    method,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Skills for a registration. */
export const skills = (...ids: string[]) => ids.map((id) => ({ id, name: id }));

/** Resolves after `ms`. */
export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
