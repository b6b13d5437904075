/**
 * Submits one task to a running hub over gRPC, waits for it to finish and prints the result.
 *
 *   tsx examples/send-grpc-task.ts '{"hello":"world"}'
 *   tsx examples/send-grpc-task.ts --url grpc://127.0.0.1:50051 --capability shout 'hi'
 *
 * Flags (or environment): --url (MCPMAS_GRPC_URL, default grpc://127.0.0.1:50051; grpcs://
 * for TLS with the system's trusted roots, or plain host:port), --api-key (MCPMAS_API_KEY, sent
 * as `authorization` metadata), --capability (MCPMAS_CAPABILITY, default echo), --priority
 * (number or low|normal|high|urgent), --wait-ms (default 60000).
 * Exits 0 when the task succeeded, 1 when it ended otherwise, 2 for bad arguments.
 */
import { createGrpcClient } from '@mcpmas/adapter-grpc';
import { grpcTarget, sendArgs, sendTask } from './common.js';

const args = sendArgs('send-grpc-task', 'MCPMAS_GRPC_URL', 'grpc://127.0.0.1:50051');
const { address, tls } = grpcTarget(args.url);
await sendTask(
  () =>
    createGrpcClient({
      address,
      ...(tls ? { tls: true } : {}),
      ...(args.apiKey ? { apiKey: args.apiKey } : {}),
    }),
  args,
  'grpc',
);
