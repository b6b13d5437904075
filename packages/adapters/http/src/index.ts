/**
 * `@mcpmas/adapter-http`: the HTTP/REST protocol of mcpmas — an express 5 server binding over
 * the core dispatcher and an undici client transport, both driven by one route table.
 *
 * @packageDocumentation
 */
export { createHttpApp, type HttpAppOptions, httpRequestListener, type MetricsSnapshot } from './app.js';
export {
  answerClientError,
  DEFAULT_BODY_LIMIT,
  errorFromStatus,
  STATUS_BY_CODE,
  sendError,
  sendJson,
  statusOf,
  toMcpmasError,
  withStatus,
} from './plumbing.js';
export {
  decodeRequest,
  encodeRequest,
  type HttpMethod,
  type HttpRoute,
  type InboundParts,
  type OutboundRequest,
  type PathParam,
  type QueryParam,
  type QueryType,
  ROUTES,
  routeOf,
} from './routes.js';
export {
  closeHttpServer,
  DEFAULT_HTTP_HOST,
  DEFAULT_HTTP_PORT,
  DEFAULT_SHUTDOWN_GRACE_MS,
  expressServerOptions,
  HttpServerAdapter,
  type HttpServerAddress,
  type HttpServerOptions,
} from './server.js';
export {
  createHttpClient,
  DEFAULT_HTTP_TIMEOUT_MS,
  HttpTransport,
  type HttpTransportOptions,
} from './transport.js';
