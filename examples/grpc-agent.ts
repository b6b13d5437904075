/**
 * An echo agent for a running hub, connected over gRPC: tasks arrive on the bidirectional
 * `StreamMessages` channel (push), every other operation is a unary call. On Ctrl-C (SIGINT)
 * or SIGTERM it drains, unregisters and exits.
 *
 *   tsx examples/grpc-agent.ts --name grpc-worker --skills echo --concurrency 4
 *
 * Flags (or environment): --url (MCPMAS_GRPC_URL, default grpc://127.0.0.1:50051; grpcs://
 * for TLS), --api-key (MCPMAS_API_KEY), --name, --skills (comma list, default echo),
 * --concurrency (default 1), --delay-ms (pretend each task takes this long, default 0).
 */
import { GrpcTransport } from '@mcpmas/adapter-grpc';
import { agentArgs, grpcTarget, runEchoAgent } from './common.js';

const args = agentArgs('grpc-agent', 'MCPMAS_GRPC_URL', 'grpc://127.0.0.1:50051');
const { address, tls } = grpcTarget(args.url);
await runEchoAgent(
  new GrpcTransport({
    address,
    ...(tls ? { tls: true } : {}),
    ...(args.apiKey ? { apiKey: args.apiKey } : {}),
  }),
  args,
);
