/**
 * Submits one task to a running hub over HTTP/REST, waits for it to finish and prints the result.
 *
 *   tsx examples/send-http-task.ts '{"hello":"world"}'
 *   tsx examples/send-http-task.ts --capability chat --priority high '{"prompt":"Name three primes"}'
 *
 * Flags (or environment): --url (MCPMAS_HUB_URL, default http://127.0.0.1:8080),
 * --api-key (MCPMAS_API_KEY), --capability (MCPMAS_CAPABILITY, default echo),
 * --priority (number or low|normal|high|urgent), --wait-ms (default 60000).
 * The payload is parsed as JSON when it can be, and sent as a string otherwise.
 * Exits 0 when the task succeeded, 1 when it ended otherwise, 2 for bad arguments.
 */
import { createHttpClient } from '@mcpmas/adapter-http';
import { sendArgs, sendTask } from './common.js';

const args = sendArgs('send-http-task', 'MCPMAS_HUB_URL', 'http://127.0.0.1:8080');
await sendTask(
  () => createHttpClient({ baseUrl: args.url, ...(args.apiKey ? { apiKey: args.apiKey } : {}) }),
  args,
  'http',
);
