import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import {
  ConflictError,
  ErrorCode,
  errorFromJSON,
  fromUnknown,
  InternalError,
  McpmasError,
  NotFoundError,
  RateLimitedError,
  TimeoutError,
  ValidationError,
} from '../src/index.js';

describe('errors', () => {
  it('round-trips every code through the wire form as the matching subclass', () => {
    for (const code of Object.values(ErrorCode)) {
      const original = new McpmasError(code, `boom ${code}`, { details: { k: 1 } });
      const wire = JSON.parse(JSON.stringify(original));
      expect(wire).toEqual({
        code,
        message: `boom ${code}`,
        retryable: original.retryable,
        details: { k: 1 },
      });
      const rebuilt = errorFromJSON(wire);
      expect(rebuilt).toBeInstanceOf(McpmasError);
      expect(rebuilt.code).toBe(code);
      expect(rebuilt.constructor).not.toBe(McpmasError);
      expect(rebuilt.message).toBe(`boom ${code}`);
      expect(rebuilt.details).toEqual({ k: 1 });
    }
  });

  it('keeps retryable defaults per code and lets a caller override them', () => {
    expect(new RateLimitedError('slow down').retryable).toBe(true);
    expect(new TimeoutError('late').retryable).toBe(true);
    expect(new NotFoundError('x').retryable).toBe(false);
    expect(new ConflictError('x', { retryable: true }).retryable).toBe(true);
    expect(errorFromJSON({ code: 'NOT_FOUND', message: 'm', retryable: true }).retryable).toBe(true);
  });

  it('never sends the cause or stack over the wire', () => {
    const err = new ValidationError('bad', { cause: new Error('secret internals') });
    expect(err.cause).toBeInstanceOf(Error);
    expect(JSON.stringify(err)).not.toContain('secret');
  });

  it('turns malformed remote errors into internal errors that keep the raw value', () => {
    const err = errorFromJSON({ code: 'NOPE', message: 1 });
    expect(err).toBeInstanceOf(InternalError);
    expect(err.details).toEqual({ received: { code: 'NOPE', message: 1 } });
    expect(errorFromJSON('garbage')).toBeInstanceOf(InternalError);
  });

  it('normalises zod errors into validation errors naming each field', () => {
    const schema = z.strictObject({ tasks: z.array(z.strictObject({ priority: z.int() })) });
    const result = schema.safeParse({ tasks: [{ priority: 1 }, { priority: 'x' }], extra: true });
    expect(result.success).toBe(false);
    const err = fromUnknown(result.error);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toMatch(/tasks\.1\.priority/);
    expect(err.message).toMatch(/unknown field\(s\): extra/);
    expect(err.details?.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'tasks.1.priority' }),
        expect.objectContaining({ path: '' }),
      ]),
    );
  });

  it('passes mcpmas errors through and wraps anything else as internal', () => {
    const nf = new NotFoundError('x');
    expect(fromUnknown(nf)).toBe(nf);
    expect(fromUnknown(new Error('plain'))).toMatchObject({ code: 'INTERNAL', message: 'plain' });
    expect(fromUnknown('a string')).toMatchObject({ code: 'INTERNAL', details: { thrown: 'a string' } });
  });
});
