/**
 * An echo agent for a running hub, connected over HTTP: registers, heartbeats, runs echo
 * tasks, and on Ctrl-C (SIGINT) or SIGTERM drains, unregisters and exits.
 *
 *   tsx examples/http-agent.ts --name my-agent --skills echo,shout --concurrency 2 --delay-ms 500
 *
 * Flags (or environment): --url (MCPMAS_HUB_URL, default http://127.0.0.1:8080),
 * --api-key (MCPMAS_API_KEY), --name, --skills (comma list, default echo),
 * --concurrency (default 1), --delay-ms (pretend each task takes this long, default 0).
 * For configuration files, .env and the OpenAI handler, use the `mcpmas-agent` CLI instead.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { HttpTransport } from '@mcpmas/adapter-http';
import { createEchoHandler, ModelAgent } from '@mcpmas/agent';
import type { LeasedTask } from '@mcpmas/core';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.MCPMAS_HUB_URL ?? 'http://127.0.0.1:8080' },
    'api-key': { type: 'string', default: process.env.MCPMAS_API_KEY },
    name: { type: 'string', default: `http-agent@${hostname()}` },
    skills: { type: 'string', default: 'echo' },
    concurrency: { type: 'string', default: '1' },
    'delay-ms': { type: 'string', default: '0' },
  },
});

const log = (message: string) => console.log(`${new Date().toISOString()} ${values.name}: ${message}`);
const agent = new ModelAgent({
  transport: new HttpTransport({
    baseUrl: values.url!,
    ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
  }),
  name: values.name!,
  skills: values.skills!.split(',').map((id) => ({ id: id.trim(), name: id.trim() })),
  handler: createEchoHandler({ delayMs: Number(values['delay-ms']) }),
  concurrency: Number(values.concurrency),
  // Drain and unregister on SIGINT/SIGTERM; the process then ends on its own.
  handleSignals: true,
});
agent.on('task', (task: LeasedTask) =>
  log(`running ${task.taskId} (${task.capability}, priority ${task.priority})`),
);
agent.on('result', (taskId: string, outcome: { status: string }) => log(`${taskId} ${outcome.status}`));
agent.on('disconnected', (error: Error) => log(`lost the hub (${error.message}); retrying`));
agent.on('reconnected', () => log('hub reachable again'));
agent.on('stopped', () => log('stopped'));

log(`connecting to ${values.url}`);
await agent.start();
log(`registered as ${agent.agentId}; skills ${values.skills}; Ctrl-C to stop`);
