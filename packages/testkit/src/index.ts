/**
 * `@mcpmas/testkit`: conformance suites every mcpmas implementation runs. Each suite takes a
 * factory, so a backend or adapter runs it in about three lines.
 *
 * @packageDocumentation
 */
export {
  type AdapterFactory,
  type AdapterHarness,
  adapterSuite,
  TEST_API_KEYS,
  TEST_MAX_PAYLOAD_BYTES,
} from './adapter.js';
export { type ElectorHarness, electorSuite } from './elector.js';
export {
  type EvictionFactory,
  type EvictionHarness,
  type EvictionSuiteOptions,
  evictionSuite,
} from './eviction.js';
export {
  type HttpReceiver,
  type NotifierHarness,
  type NotifierSuiteOptions,
  notifierSuite,
  type ReceivedNotification,
  type ReceivedRequest,
  type ReceiverReply,
  sampleEvent,
  startHttpReceiver,
} from './notifier.js';
export { type QueueFactory, type QueueHarness, type QueueSuiteFeatures, queueSuite } from './queue.js';
export { outboxSuite, type RegistryHarness, registrySuite } from './registry.js';
export { delay, eventually, isCI, probeTcp, requireService, uniquePrefix } from './services.js';
