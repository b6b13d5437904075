/**
 * `@mcpmas/adapter-ws`: the WebSocket protocol of mcpmas — a ws server binding over the core
 * dispatcher that pushes tasks to agents, and a reconnecting client transport.
 *
 * @packageDocumentation
 */
export {
  type AbortFrame,
  type CallFrame,
  type CancelFrame,
  type ClientFrame,
  type CreditsFrame,
  type ErrorFrame,
  FrameError,
  type FrameId,
  type HelloFrame,
  isFrameId,
  MAX_CREDITS_PER_FRAME,
  parseClientFrame,
  type ReplyFrame,
  type ServerFrame,
  type TaskFrame,
  WS_PROTOCOL,
} from './frames.js';
export {
  credentialsOf,
  DEFAULT_WS_HOST,
  DEFAULT_WS_MAX_BUFFERED_BYTES,
  DEFAULT_WS_MAX_CALLS_IN_FLIGHT,
  DEFAULT_WS_MAX_PAYLOAD_BYTES,
  DEFAULT_WS_PATH,
  DEFAULT_WS_PING_INTERVAL_MS,
  DEFAULT_WS_PORT,
  WsServerAdapter,
  type WsServerAddress,
  type WsServerOptions,
  type WsServerStats,
} from './server.js';
export {
  createWsClient,
  DEFAULT_WS_RECONNECT,
  DEFAULT_WS_REQUEST_TIMEOUT_MS,
  WsTransport,
  type WsTransportOptions,
} from './transport.js';
