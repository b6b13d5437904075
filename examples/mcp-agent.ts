/**
 * An echo agent for a running hub, connected over MCP (Streamable HTTP): it registers with the
 * `register_agent` tool, long-polls `next_task`, and reports with `complete_task` — the same
 * tools any MCP client could call. On Ctrl-C (SIGINT) or SIGTERM it drains, unregisters and
 * exits.
 *
 *   tsx examples/mcp-agent.ts --name mcp-worker --skills echo
 *
 * Flags (or environment): --url (MCPMAS_MCP_URL, default http://127.0.0.1:8080/mcp),
 * --api-key (MCPMAS_API_KEY), --name, --skills (comma list, default echo),
 * --concurrency (default 1), --delay-ms (pretend each task takes this long, default 0).
 * The hub must be up when it starts (the MCP client connects and negotiates first).
 */
import { McpTransport } from '@mcpmas/adapter-mcp';
import { agentArgs, runEchoAgent } from './common.js';

const args = agentArgs('mcp-agent', 'MCPMAS_MCP_URL', 'http://127.0.0.1:8080/mcp');
await runEchoAgent(
  new McpTransport({ url: args.url, ...(args.apiKey ? { apiKey: args.apiKey } : {}) }),
  args,
);
