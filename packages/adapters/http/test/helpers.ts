/**
 * Test helpers: a real hub (memory backend + dispatcher) behind a real HTTP server on
 * 127.0.0.1 port 0, and a raw HTTP client for requests no well-behaved client would send.
 */
import {
  type ApiKeyAuthenticator,
  type Backend,
  type CallContext,
  createDispatcher,
  createMemoryBackend,
  type DispatcherOptions,
  type HubDispatcher,
  type OperationName,
  PluginHost,
} from '@mcpmas/core';
import { Pool } from 'undici';
import { HttpServerAdapter, type HttpServerOptions } from '../src/index.js';

/** What a raw request got back. */
export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** Options of one raw request. */
export interface RawOptions {
  /** An object is sent as JSON with `content-type: application/json`; a string is sent as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** A raw HTTP client on its own pool (closed by the hub's `close`). */
export type Raw = (method: string, path: string, options?: RawOptions) => Promise<RawReply>;

/** A running hub under test. */
export interface TestHub {
  backend: Backend;
  dispatcher: HubDispatcher;
  server: HttpServerAdapter;
  url: string;
  raw: Raw;
  /** Call contexts the dispatcher saw, newest last. */
  contexts: Array<{ operation: OperationName; context: CallContext }>;
  close(): Promise<void>;
}

/** Starts a memory hub behind an {@link HttpServerAdapter} on 127.0.0.1, port 0. */
export async function startHub(
  options: {
    auth?: ApiKeyAuthenticator;
    server?: HttpServerOptions;
    dispatcher?: Partial<DispatcherOptions>;
  } = {},
): Promise<TestHub> {
  const backend = createMemoryBackend({ queue: { crashBackoff: { baseMs: 0, maxMs: 0, jitter: 0 } } });
  const contexts: TestHub['contexts'] = [];
  const plugins = new PluginHost([
    {
      name: 'context-recorder',
      around: (call, next) => {
        contexts.push({ operation: call.operation, context: call.context });
        return next();
      },
    },
  ]);
  const dispatcher = createDispatcher({
    registry: backend.registry,
    queue: backend.queue,
    plugins,
    ...(options.auth ? { auth: options.auth } : {}),
    ...options.dispatcher,
  });
  const server = new HttpServerAdapter({ port: 0, ...options.server });
  await server.start(dispatcher);
  const { url } = server.address();
  const pool = new Pool(url);
  const raw: Raw = async (method, path, { body, headers = {} } = {}) => {
    const h: Record<string, string> = { ...headers };
    let payload: string | undefined;
    if (typeof body === 'string') payload = body;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await pool.request({ method: method as 'GET', path, headers: h, body: payload ?? null });
    const text = await res.body.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, headers: res.headers, text, json };
  };
  return {
    backend,
    dispatcher,
    server,
    url,
    raw,
    contexts,
    async close() {
      await pool.close();
      await server.stop();
      dispatcher.close();
      await backend.close();
    },
  };
}

/** Skills for a registration. */
export const skills = (...ids: string[]) => ids.map((id) => ({ id, name: id }));

/** Resolves after `ms`. */
export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A serialised error as the tests read it. */
export interface WireError {
  code: string;
  message: string;
  retryable: boolean;
  details?: { issues?: Array<{ path: string; message: string }>; [key: string]: unknown };
}

/** The `error` object of an error reply. */
export function errorOf(reply: RawReply): WireError {
  const body = reply.json as { error?: never } | undefined;
  if (!body?.error) throw new Error(`expected an error body, got ${reply.status} ${reply.text}`);
  return body.error;
}
