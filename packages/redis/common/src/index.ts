/**
 * `@mcpmas/redis-common`: the connection handling and Lua script loading shared by the
 * `@mcpmas/redis-*` packages.
 *
 * @packageDocumentation
 */
export * from './connection.js';
export * from './scripts.js';
