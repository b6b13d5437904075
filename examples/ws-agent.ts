/**
 * An echo agent for a running hub, connected over WebSocket: the hub pushes tasks down the
 * socket (no polling), and the transport reconnects and re-registers if the socket drops.
 * On Ctrl-C (SIGINT) or SIGTERM it drains, unregisters and exits.
 *
 *   tsx examples/ws-agent.ts --name ws-worker --skills echo,shout --delay-ms 500
 *
 * Flags (or environment): --url (MCPMAS_WS_URL, default ws://127.0.0.1:8080/ws),
 * --api-key (MCPMAS_API_KEY), --name, --skills (comma list, default echo),
 * --concurrency (default 1), --delay-ms (pretend each task takes this long, default 0).
 */
import { WsTransport } from '@mcpmas/adapter-ws';
import { agentArgs, runEchoAgent } from './common.js';

const args = agentArgs('ws-agent', 'MCPMAS_WS_URL', 'ws://127.0.0.1:8080/ws');
await runEchoAgent(new WsTransport({ url: args.url, ...(args.apiKey ? { apiKey: args.apiKey } : {}) }), args);
