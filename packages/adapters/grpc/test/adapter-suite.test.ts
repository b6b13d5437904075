import { adapterSuite } from '@mcpmas/testkit';
import { GrpcServerAdapter, GrpcTransport } from '../src/index.js';

adapterSuite(
  'grpc',
  async (dispatcher) => {
    const server = new GrpcServerAdapter({ port: 0 });
    await server.start(dispatcher);
    const { address } = server.address();
    return {
      connect: (options = {}) => new GrpcTransport({ address, ...options }),
      close: () => server.stop(),
    };
  },
  { push: true },
);
