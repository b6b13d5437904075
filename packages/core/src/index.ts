/**
 * `@mcpmas/core`: the protocol-neutral heart of mcpmas — wire schemas, errors, interfaces,
 * the in-memory backends and the dispatcher.
 *
 * @packageDocumentation
 */
export * from './auth.js';
export * from './client.js';
export { isAborted, LazyCallContext, onAbort } from './context.js';
export * from './dispatcher.js';
export * from './errors.js';
export { eventFields, eventHeadline } from './events.js';
export { Heap } from './heap.js';
export * from './interfaces.js';
export { type JsonProblem, jsonProblem, MAX_JSON_DEPTH, PROTO_KEY } from './json.js';
export * from './memory/index.js';
export * from './plugins.js';
export * from './push.js';
export * from './schemas.js';
export { backoffDelay, cloneJson, DEFAULT_BACKOFF, jsonSize, newId, newToken, sleep } from './util.js';
