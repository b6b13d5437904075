/**
 * An echo agent for a running hub, connected over HTTP/REST (it long-polls for tasks):
 * registers, heartbeats, runs echo tasks, and on Ctrl-C (SIGINT) or SIGTERM drains,
 * unregisters and exits.
 *
 *   tsx examples/http-agent.ts --name my-agent --skills echo,shout --concurrency 2 --delay-ms 500
 *
 * Flags (or environment): --url (MCPMAS_HUB_URL, default http://127.0.0.1:8080),
 * --api-key (MCPMAS_API_KEY), --name, --skills (comma list, default echo),
 * --concurrency (default 1), --delay-ms (pretend each task takes this long, default 0).
 * For configuration files, .env, failover and the OpenAI handler, use the `mcpmas-agent` CLI.
 */
import { HttpTransport } from '@mcpmas/adapter-http';
import { agentArgs, runEchoAgent } from './common.js';

const args = agentArgs('http-agent', 'MCPMAS_HUB_URL', 'http://127.0.0.1:8080');
await runEchoAgent(
  new HttpTransport({ baseUrl: args.url, ...(args.apiKey ? { apiKey: args.apiKey } : {}) }),
  args,
);
