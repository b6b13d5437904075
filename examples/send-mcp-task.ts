/**
 * Submits one task to a running hub over MCP (Streamable HTTP: the `submit_task` and
 * `get_task_result` tools), waits for it to finish and prints the result.
 *
 *   tsx examples/send-mcp-task.ts '{"hello":"world"}'
 *   tsx examples/send-mcp-task.ts --url http://127.0.0.1:8080/mcp --priority high 'hi'
 *
 * Flags (or environment): --url (MCPMAS_MCP_URL, default http://127.0.0.1:8080/mcp),
 * --api-key (MCPMAS_API_KEY, sent as `Authorization: Bearer`), --capability
 * (MCPMAS_CAPABILITY, default echo), --priority (number or low|normal|high|urgent),
 * --wait-ms (default 60000).
 * Exits 0 when the task succeeded, 1 when it ended otherwise, 2 for bad arguments.
 */
import { createMcpClient } from '@mcpmas/adapter-mcp';
import { sendArgs, sendTask } from './common.js';

const args = sendArgs('send-mcp-task', 'MCPMAS_MCP_URL', 'http://127.0.0.1:8080/mcp');
await sendTask(
  () => createMcpClient({ url: args.url, ...(args.apiKey ? { apiKey: args.apiKey } : {}) }),
  args,
  'mcp',
);
