/**
 * Static checks of the Lua scripts (no Redis): the helpers of the slow paths
 * (includes/slow.lua) exist only after useSlow() made them, so code outside that file may reach
 * them only through the table useSlow() returns. A bare call would be a global lookup, which
 * Redis refuses at run time, and only on the (rare) path that makes it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { loadScript } from '../src/scripts.js';

const luaDir = new URL('../src/lua/', import.meta.url);
const slowSource = readFileSync(new URL('includes/slow.lua', luaDir), 'utf8');

/** Lua source without comments (`--[[ … ]]` blocks and `--` to the end of the line). */
function stripComments(source: string): string {
  return source.replace(/--\[\[[\s\S]*?\]\]/g, '').replace(/--.*$/gm, '');
}

/** The names includes/slow.lua defines at its top level. */
const slowNames = [...stripComments(slowSource).matchAll(/^local (?:function )?([A-Za-z_]\w*)/gm)].map(
  (m) => m[1]!,
);

describe('queue scripts: the slow-path helpers', () => {
  it('slow.lua defines helpers and returns every one of them', () => {
    expect(slowNames.length).toBeGreaterThan(10);
    const table = /^slow = \{([\s\S]*?)\n\}/m.exec(slowSource)?.[1] ?? '';
    const exported = [...table.matchAll(/(\w+) = (\w+),/g)].map((m) => {
      expect(m[1]).toBe(m[2]);
      return m[1]!;
    });
    expect(exported.sort()).toEqual([...slowNames].sort());
  });

  const scripts = readdirSync(luaDir)
    .filter((file) => file.endsWith('.lua'))
    .map((file) => file.slice(0, -'.lua'.length));

  it.each(scripts)('%s reaches them only through useSlow()', (name) => {
    const source = loadScript(name).source;
    const start = source.indexOf('local function useSlow()');
    // The body of useSlow (slow.lua itself) is where they are defined.
    const outside = stripComments(
      start < 0
        ? source
        : source.slice(0, start) + source.slice(source.indexOf('\n  return slow\nend\n', start)),
    );
    // Names a script takes out of the table, `local a, b = sl.a, sl.b`, are its own locals.
    const taken = new Set<string>();
    const rest = outside.replace(
      /^local ([\w, ]+) =\s*((?:sl\.\w+(?:, )?)+)\s*$/gm,
      (_line, left: string, right: string) => {
        const names = left.split(', ');
        expect(right.trim().split(', ')).toEqual(names.map((n) => `sl.${n}`));
        for (const n of names) taken.add(n);
        return '';
      },
    );
    const bare = slowNames.filter((n) => !taken.has(n) && new RegExp(`(?<![\\w.])${n}\\b`).test(rest));
    expect(bare).toEqual([]);
  });
});
