/**
 * Submits one task to a running hub over WebSocket, waits for it to finish and prints the result.
 *
 *   tsx examples/send-ws-task.ts '{"hello":"world"}'
 *   tsx examples/send-ws-task.ts --url ws://127.0.0.1:8080/ws --priority urgent 'wake up'
 *
 * Flags (or environment): --url (MCPMAS_WS_URL, default ws://127.0.0.1:8080/ws),
 * --api-key (MCPMAS_API_KEY, sent on the upgrade request), --capability (MCPMAS_CAPABILITY,
 * default echo), --priority (number or low|normal|high|urgent), --wait-ms (default 60000).
 * Exits 0 when the task succeeded, 1 when it ended otherwise, 2 for bad arguments.
 */
import { createWsClient } from '@mcpmas/adapter-ws';
import { sendArgs, sendTask } from './common.js';

const args = sendArgs('send-ws-task', 'MCPMAS_WS_URL', 'ws://127.0.0.1:8080/ws');
await sendTask(
  () =>
    createWsClient({
      url: args.url,
      ...(args.apiKey ? { apiKey: args.apiKey } : {}),
      // A one-shot client: fail instead of reconnecting when the hub is not there.
      reconnect: false,
    }),
  args,
  'ws',
);
