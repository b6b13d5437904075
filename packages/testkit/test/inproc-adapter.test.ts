import { InProcessTransport } from '@mcpmas/core';
import { adapterSuite } from '../src/index.js';

// The in-process transport is the reference adapter: same validation and auth, no network.
adapterSuite('in-process', async (dispatcher) => ({
  connect: (options = {}) =>
    new InProcessTransport(dispatcher, options.apiKey ? { apiKey: options.apiKey } : {}),
  close: async () => undefined,
}));
