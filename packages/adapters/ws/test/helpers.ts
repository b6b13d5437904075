/**
 * Test helpers: a memory hub (backend + dispatcher) that records the call contexts it saw, and
 * a raw WebSocket client for frames no well-behaved client would send.
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
import WebSocket from 'ws';

/** A memory hub without any protocol server. */
export interface TestHub {
  backend: Backend;
  dispatcher: HubDispatcher;
  /** Call contexts the dispatcher saw, newest last. */
  contexts: Array<{ operation: OperationName; context: CallContext }>;
  close(): Promise<void>;
}

/** Creates a memory hub. */
export function createHub(
  options: { auth?: ApiKeyAuthenticator; dispatcher?: Partial<DispatcherOptions> } = {},
): TestHub {
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
  return {
    backend,
    dispatcher,
    contexts,
    async close() {
      dispatcher.close();
      await backend.close();
    },
  };
}

/** Skills for a registration. */
export const skills = (...ids: string[]) => ids.map((id) => ({ id, name: id }));

/** Resolves after `ms`. */
export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A raw client: every frame received, parsed, in order. */
export interface RawClient {
  socket: WebSocket;
  frames: Array<Record<string, unknown>>;
  /** Resolves with the first received frame matching `predicate` (waits up to 5 s). */
  next(predicate: (frame: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Resolves with the close code once the socket closes. */
  closed: Promise<number>;
  close(): void;
}

/** Opens a raw WebSocket to `url` and waits for it to open. */
export async function rawClient(url: string, options: WebSocket.ClientOptions = {}): Promise<RawClient> {
  const socket = new WebSocket(url, options);
  const frames: Array<Record<string, unknown>> = [];
  const listeners = new Set<() => void>();
  socket.on('message', (data, isBinary) => {
    if (isBinary) return;
    frames.push(JSON.parse(data.toString()) as Record<string, unknown>);
    for (const l of listeners) l();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    frames,
    closed,
    next(predicate) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = frames.find(predicate);
          if (!found) return false;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no matching frame within 5 s; got ${JSON.stringify(frames).slice(0, 500)}`));
        }, 5000);
        if (!check()) listeners.add(check);
      });
    },
    close() {
      socket.terminate();
    },
  };
}

/** A free TCP port on 127.0.0.1 (for restart tests that must reuse a port). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
