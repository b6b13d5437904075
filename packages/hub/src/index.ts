/**
 * `@mcpmas/hub`: the central-agent engine.
 *
 * @packageDocumentation
 */
export {
  type ChannelState,
  type ChannelStatus,
  DEFAULT_DELIVERY,
  DeliveryLoop,
  type DeliveryOptions,
} from './delivery.js';
export { Hub, type HubOptions, type SweepReport } from './hub.js';
export { type Logger, silentLogger } from './logger.js';
export { HubMetrics } from './metrics.js';
