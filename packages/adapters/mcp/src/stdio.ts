#!/usr/bin/env node
/**
 * `mcpmas-mcp-stdio`: the command a desktop MCP host launches. It serves the hub's MCP tools
 * over stdio and forwards each call to the hub named by `MCPMAS_HUB_URL` over HTTP, with the
 * API key in `MCPMAS_API_KEY`. Logs go to stderr; stdout carries only MCP messages.
 */
import { startStdioBridge } from './bridge.js';

const hubUrl = process.env.MCPMAS_HUB_URL;
if (!hubUrl) {
  process.stderr.write(
    'mcpmas-mcp-stdio: set MCPMAS_HUB_URL to the hub’s HTTP base URL, e.g. http://127.0.0.1:8080\n',
  );
  process.exit(2);
}
const timeout = process.env.MCPMAS_TIMEOUT_MS ? Number(process.env.MCPMAS_TIMEOUT_MS) : undefined;
const bridge = startStdioBridge({
  hubUrl,
  ...(process.env.MCPMAS_API_KEY ? { apiKey: process.env.MCPMAS_API_KEY } : {}),
  ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
  onError: (error) => process.stderr.write(`mcpmas-mcp-stdio: ${error.message}\n`),
});

let closing = false;
const shutdown = () => {
  if (closing) return;
  closing = true;
  bridge.close().finally(() => process.exit(0));
};
process.stdin.once('end', shutdown);
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
