import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@mcpmas/core';
import { parseRedisUrl } from '../src/index.js';

describe('parseRedisUrl', () => {
  it('passes redis:// and rediss:// URLs to ioredis as they are', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/2')).toEqual({
      kind: 'server',
      url: 'redis://127.0.0.1:6379/2',
    });
    expect(parseRedisUrl('rediss://u:p@cache:6380')).toEqual({
      kind: 'server',
      url: 'rediss://u:p@cache:6380',
    });
  });

  it('reads Sentinel URLs: sentinels, master name, db, credentials, TLS', () => {
    expect(parseRedisUrl('redis+sentinel://10.0.0.1:26379,10.0.0.2,[::1]:26380/mymaster')).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'mymaster',
      db: 0,
      tls: false,
    });
    expect(
      parseRedisUrl('rediss+sentinel://app:p%40ss@s1:1/primary/3?sentinelPassword=sentinel-secret'),
    ).toEqual({
      kind: 'sentinel',
      sentinels: [{ host: 's1', port: 1 }],
      name: 'primary',
      db: 3,
      tls: true,
      username: 'app',
      password: 'p@ss',
      sentinelPassword: 'sentinel-secret',
    });
  });

  it('reads Cluster URLs: seed nodes, credentials, TLS', () => {
    expect(parseRedisUrl('redis+cluster://:secret@n1:7000,n2:7001')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 7001 },
      ],
      tls: false,
      password: 'secret',
    });
    expect(parseRedisUrl('REDISS+CLUSTER://n1')).toMatchObject({
      kind: 'cluster',
      tls: true,
      nodes: [{ port: 6379 }],
    });
  });

  it.each([
    ['http://127.0.0.1:6379', /must be one of redis:\/\//],
    ['redis+mongo://h:1', /must be one of/],
    ['redis+sentinel://h:1', /needs the master name/],
    ['redis+sentinel:///mymaster', /names no host/],
    ['redis+sentinel://h:99999/m', /"h:99999" is not host:port/],
    ['redis+sentinel://h:1/m/x', /\/<master name>\[\/<db number>\]/],
    ['redis+cluster://n1:7000/0', /no databases/],
    ['redis+cluster://n1:abc', /"n1:abc" is not host:port/],
  ])('refuses %s, naming the problem', (url, message) => {
    let thrown: unknown;
    try {
      parseRedisUrl(url);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toMatch(message);
  });

  it('never repeats a password in an error', () => {
    expect(() => parseRedisUrl('redis+cluster://user:hunter2@n1:7000/9')).toThrow(/user:\*\*\*@/);
    expect(() => parseRedisUrl('redis+cluster://user:hunter2@n1:7000/9')).not.toThrow(/hunter2/);
  });
});
