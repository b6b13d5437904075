import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { adminClient, describeRedis, freshNamespace } from '@mcpmas/testkit/redis';
import { Redis } from 'ioredis';
import { LuaScript } from '../src/index.js';

// LuaScript.run writes EVALSHA itself on a plain client (see ScriptCommand): every byte length
// and separator must come out as ioredis would write them, or Redis reads garbage.
describeRedis('LuaScript.run', () => {
  const script = new LuaScript('echo-test', 'return { KEYS[1], unpack(ARGV) }');
  let plain: Redis;
  let prefixed: Redis;
  let key: string;

  beforeAll(() => {
    plain = adminClient();
    prefixed = new Redis(plain.options.port!, plain.options.host!, { keyPrefix: 'p:' });
    key = `{${freshNamespace('scripts')}}:k`;
  });
  afterAll(async () => {
    await plain.quit();
    await prefixed.quit();
  });

  it('sends keys and arguments byte for byte: multi-byte text, long values, empty and numbers', async () => {
    const long = 'x'.repeat(300) + 'é'.repeat(200);
    const args = ['', 'é€😀', long, 7, 'a\r\nb', '$5', '*3', '0'];
    const reply = await script.run(plain, [key], args);
    expect(reply).toEqual([key, '', 'é€😀', long, '7', 'a\r\nb', '$5', '*3', '0']);
    // Loaded on first use (NOSCRIPT falls back to EVAL), then by SHA: the same reply again.
    expect(await script.run(plain, [key], args)).toEqual(reply);
    // Many calls in one tick go out back to back on one socket and still come back whole.
    const many = await Promise.all(
      Array.from({ length: 50 }, (_, i) => script.run(plain, [key], [String(i), 'é'.repeat(i)])),
    );
    expect(many).toEqual(Array.from({ length: 50 }, (_, i) => [key, String(i), 'é'.repeat(i)]));
  });

  it("keeps ioredis' own path for what it must rewrite: a key prefix", async () => {
    expect(await script.run(prefixed, [key], ['v'])).toEqual([`p:${key}`, 'v']);
  });
});
