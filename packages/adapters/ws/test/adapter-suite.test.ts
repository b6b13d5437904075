import { adapterSuite } from '@mcpmas/testkit';
import { WsServerAdapter, WsTransport } from '../src/index.js';

adapterSuite(
  'ws',
  async (dispatcher) => {
    const server = new WsServerAdapter({ port: 0 });
    await server.start(dispatcher);
    const { url } = server.address();
    return {
      connect: (options = {}) => new WsTransport({ url, ...options }),
      close: () => server.stop(),
    };
  },
  { push: true },
);
