import { adapterSuite } from '@mcpmas/testkit';
import { McpTransport } from '../src/index.js';
import { serveMcp } from './helpers.js';

// The transport negotiates the 2026-07-28 revision by default; stock clients still speak the
// 2025 handshake, so the suite runs on both.
for (const negotiation of ['auto', 'legacy'] as const) {
  adapterSuite(`mcp (${negotiation === 'auto' ? '2026-07-28' : '2025'} era)`, async (dispatcher) => {
    const served = await serveMcp(dispatcher);
    return {
      connect: (options = {}) => new McpTransport({ url: served.mcpUrl, negotiation, ...options }),
      close: () => served.close(),
    };
  });
}
