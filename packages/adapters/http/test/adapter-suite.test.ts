import { adapterSuite } from '@mcpmas/testkit';
import { HttpServerAdapter, HttpTransport } from '../src/index.js';

adapterSuite('http', async (dispatcher) => {
  const server = new HttpServerAdapter({ port: 0 });
  await server.start(dispatcher);
  const { url } = server.address();
  return {
    connect: (options = {}) => new HttpTransport({ baseUrl: url, ...options }),
    close: () => server.stop(),
  };
});
