import { describe, expect, it } from '@jest/globals';
import {
  ApiKeyAuthenticator,
  ConfigError,
  ForbiddenError,
  hashApiKey,
  type OperationCall,
  PluginHost,
  UnauthenticatedError,
} from '../src/index.js';

describe('ApiKeyAuthenticator', () => {
  const auth = new ApiKeyAuthenticator([
    { id: 'plain', key: 'plain-key-123', scopes: ['task:submit'] },
    { id: 'hashed', sha256: hashApiKey('hashed-key-456'), scopes: ['admin'] },
  ]);

  it('accepts plaintext and pre-hashed keys and refuses unknown or missing ones', () => {
    expect(auth.enabled).toBe(true);
    expect(auth.authenticate('plain-key-123')).toEqual({ keyId: 'plain', scopes: ['task:submit'] });
    expect(auth.authenticate('hashed-key-456').keyId).toBe('hashed');
    expect(() => auth.authenticate('nope-nope-nope')).toThrow(UnauthenticatedError);
    expect(() => auth.authenticate(undefined)).toThrow('missing API key');
  });

  it('enforces scopes, with admin implying all', () => {
    const plain = auth.authenticate('plain-key-123');
    expect(() => auth.authorize(plain, 'task:submit', 'task.submit')).not.toThrow();
    expect(() => auth.authorize(plain, 'task:cancel', 'task.cancel')).toThrow(ForbiddenError);
    expect(() => auth.authorize(plain, 'task:cancel', 'task.cancel')).toThrow(
      /lacks scope task:cancel, required by task.cancel/,
    );
    expect(() =>
      auth.authorize(auth.authenticate('hashed-key-456'), 'agent:connect', 'task.next'),
    ).not.toThrow();
  });

  it('refuses bad key configuration naming the entry', () => {
    expect(() => new ApiKeyAuthenticator([{ id: 'a', scopes: ['admin'] }])).toThrow(
      /apiKeys\[0\] needs exactly one of key or sha256/,
    );
    expect(() => new ApiKeyAuthenticator([{ id: 'a', key: 'short', scopes: ['admin'] }])).toThrow(
      ConfigError,
    );
    expect(
      () => new ApiKeyAuthenticator([{ id: 'a', key: 'long-enough', scopes: ['root' as never] }]),
    ).toThrow(/unknown scope "root"/);
    expect(() => new ApiKeyAuthenticator([{ id: 'a', sha256: 'abc', scopes: ['admin'] }])).toThrow(
      /sha256 must be 64 hex/,
    );
    expect(
      () =>
        new ApiKeyAuthenticator([
          { id: 'a', key: 'long-enough-1', scopes: ['admin'] },
          { id: 'a', key: 'long-enough-2', scopes: ['admin'] },
        ]),
    ).toThrow(/used twice/);
    expect(new ApiKeyAuthenticator().enabled).toBe(false);
  });
});

describe('PluginHost', () => {
  const ctx = { protocol: 'test' };
  const task = { capability: 'echo', payload: 1 };

  it('runs hooks in order, letting each replace the value', async () => {
    const host = new PluginHost([
      { name: 'double', hooks: { submit: (t) => ({ ...t, payload: (t.payload as number) * 2 }) } },
      { name: 'observe', hooks: { submit: () => undefined } },
      { name: 'inc', hooks: { submit: (t) => ({ ...t, payload: (t.payload as number) + 1 }) } },
    ]);
    expect((await host.run('submit', task, ctx)).payload).toBe(3);
  });

  it('can disable, re-enable and remove plugins at run time', async () => {
    const closed: string[] = [];
    const host = new PluginHost([
      {
        name: 'double',
        hooks: { submit: (t) => ({ ...t, payload: (t.payload as number) * 2 }) },
        close: async () => void closed.push('double'),
      },
    ]);
    host.disable('double');
    expect((await host.run('submit', task, ctx)).payload).toBe(1);
    expect(host.list()).toEqual([{ name: 'double', enabled: false }]);
    host.enable('double');
    expect((await host.run('submit', task, ctx)).payload).toBe(2);
    await host.remove('double');
    expect(closed).toEqual(['double']);
    expect(host.list()).toEqual([]);
    expect(() => host.enable('double')).toThrow(/no plugin named "double"/);
  });

  it('refuses duplicate names and lets a hook reject a call', async () => {
    const host = new PluginHost([
      {
        name: 'deny',
        hooks: {
          submit: () => {
            throw new ForbiddenError('denied by policy');
          },
        },
      },
    ]);
    expect(() => host.use({ name: 'deny' })).toThrow(/already installed/);
    await expect(host.run('submit', task, ctx)).rejects.toThrow('denied by policy');
  });

  it('nests around() wrappers with the first plugin outermost', async () => {
    const trace: string[] = [];
    const wrap = (name: string) => ({
      name,
      around: async (_call: OperationCall, next: () => Promise<unknown>) => {
        trace.push(`${name}>`);
        const out = await next();
        trace.push(`<${name}`);
        return out;
      },
    });
    const host = new PluginHost([wrap('a'), wrap('b')]);
    const out = await host.around({ operation: 'task.get', request: {}, context: ctx }, async () => {
      trace.push('handler');
      return 42;
    });
    expect(out).toBe(42);
    expect(trace).toEqual(['a>', 'b>', 'handler', '<b', '<a']);
  });
});
