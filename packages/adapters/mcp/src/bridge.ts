/**
 * The stdio bridge: the hub's MCP tools served over stdio to a desktop MCP host, each call
 * forwarded to a hub over HTTP. The tool layer is the same as the hub's own `/mcp` endpoint;
 * only the {@link OperationCaller} differs.
 */

import type { Readable, Writable } from 'node:stream';
import { createHttpClient } from '@mcpmas/adapter-http';
import { ConfigError, type HubClient } from '@mcpmas/core';
import { StdioServerTransport, serveStdio } from '@modelcontextprotocol/server/stdio';
import { type CreateMcpServerOptions, createMcpServer, type OperationCaller } from './server.js';

/** Options of {@link startStdioBridge}. */
export interface StdioBridgeOptions extends Omit<CreateMcpServerOptions, 'context'> {
  /** The hub's HTTP base URL, e.g. `http://127.0.0.1:8080`. */
  hubUrl: string;
  /** API key presented to the hub on every forwarded call. */
  apiKey?: string;
  /** Longest time one forwarded call may take, long-poll waits excepted. @default 30000 */
  timeoutMs?: number;
  /** Where MCP messages are read from. @default process.stdin */
  stdin?: Readable;
  /** Where MCP messages are written to. @default process.stdout */
  stdout?: Writable;
  /** Told about errors the MCP layer handles on its own. */
  onError?: (error: Error) => void;
}

/** A running bridge. */
export interface StdioBridge {
  /** The HTTP client the bridge forwards with. */
  hub: HubClient;
  /** Closes the stdio connection and the HTTP client. */
  close(): Promise<void>;
}

/** An {@link OperationCaller} that performs each operation on a hub through `hub`'s transport. */
export function forwardTo(hub: HubClient): OperationCaller {
  return (operation, request, context) =>
    hub.transport.sendMessage(operation, request, context.signal ? { signal: context.signal } : {});
}

/**
 * Serves the hub's MCP tools over stdio, forwarding every call to the hub at `hubUrl` over
 * HTTP with `apiKey`. The desktop host's process is the only client, so the key comes from the
 * bridge's configuration (environment), never from the MCP messages.
 */
export function startStdioBridge(options: StdioBridgeOptions): StdioBridge {
  const { hubUrl, apiKey, timeoutMs, stdin, stdout, onError, ...serverOptions } = options;
  if (!hubUrl) throw new ConfigError('MCPMAS_HUB_URL (hubUrl) must be set to the hub’s HTTP base URL');
  const hub = createHttpClient({
    baseUrl: hubUrl,
    ...(apiKey ? { apiKey } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  });
  const call = forwardTo(hub);
  const handle = serveStdio(
    () => createMcpServer(call, { ...serverOptions, context: { protocol: 'stdio' } }),
    {
      transport: new StdioServerTransport(stdin, stdout),
      ...(onError ? { onerror: onError } : {}),
    },
  );
  return {
    hub,
    async close() {
      await handle.close();
      await hub.transport.stop();
    },
  };
}
