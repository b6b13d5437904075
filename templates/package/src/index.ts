/**
 * `@mcpmas/PACKAGE-NAME`: ONE LINE.
 *
 * @packageDocumentation
 */
export {};
