/**
 * Submits one task to a running hub over HTTP, waits for it to finish and prints the result.
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
import { parseArgs } from 'node:util';
import { createHttpClient } from '@mcpmas/adapter-http';
import { McpmasError, type RequestOf } from '@mcpmas/core';

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      url: { type: 'string', default: process.env.MCPMAS_HUB_URL ?? 'http://127.0.0.1:8080' },
      'api-key': { type: 'string', default: process.env.MCPMAS_API_KEY },
      capability: { type: 'string', default: process.env.MCPMAS_CAPABILITY ?? 'echo' },
      priority: { type: 'string' },
      'wait-ms': { type: 'string', default: '60000' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
}
try {
  args = parse();
} catch (error) {
  console.error(`${(error as Error).message}\nrun with --help for usage`);
  process.exit(2);
}
if (args.values.help) {
  console.log(
    'usage: tsx examples/send-http-task.ts [--url URL] [--api-key KEY] [--capability ID] [--priority P] [--wait-ms MS] [payload]',
  );
  process.exit(0);
}

const text = args.positionals.join(' ') || '"hello from send-http-task"';
let payload: unknown;
try {
  payload = JSON.parse(text);
} catch {
  payload = text;
}
const waitMs = Number(args.values['wait-ms']);
const request: RequestOf<'task.submit'> = { capability: args.values.capability!, payload };
if (args.values.priority !== undefined) {
  const p = args.values.priority;
  request.priority = /^-?\d+$/.test(p) ? Number(p) : (p as 'low' | 'normal' | 'high' | 'urgent');
}

const client = createHttpClient({
  baseUrl: args.values.url!,
  ...(args.values['api-key'] ? { apiKey: args.values['api-key'] } : {}),
});
try {
  const { task } = await client.submit(request);
  console.log(`submitted ${task.id} (capability ${task.capability}, priority ${task.priority}); waiting…`);
  // task.get waits at most 5 minutes per call; ask again until the task is done or time is up.
  const deadline = Date.now() + waitMs;
  let view = task;
  while (!['succeeded', 'failed', 'cancelled', 'timed_out', 'dead'].includes(view.state)) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    view = (await client.get({ taskId: task.id, waitMs: Math.min(left, 300_000) })).task;
  }
  console.log(`state: ${view.state}${view.agentId ? ` (agent ${view.agentId})` : ''}`);
  if (view.state === 'succeeded') console.log(JSON.stringify(view.result, null, 2));
  else if (view.error) console.log(`error: ${view.error.code ?? ''} ${view.error.message}`);
  process.exitCode = view.state === 'succeeded' ? 0 : 1;
} catch (error) {
  const err = error instanceof McpmasError ? `${error.code}: ${error.message}` : String(error);
  console.error(`request failed: ${err}`);
  process.exitCode = 1;
} finally {
  await client.transport.stop();
}
