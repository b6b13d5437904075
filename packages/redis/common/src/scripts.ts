/**
 * Loads a package's Lua scripts and runs them by SHA.
 *
 * In each `@mcpmas/redis-*` package the `.lua` files in `src/lua` are the source of truth; the
 * build copies them to `dist/lua` and they are read from there at run time. A line `--@include "name"` is
 * replaced by `lua/includes/name.lua`, so shared helpers exist once.
 *
 * Each call is `EVALSHA`; on `NOSCRIPT` (first use, or after a Redis restart or `SCRIPT FLUSH`)
 * it falls back to `EVAL`, which also caches the script again.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Cluster, Command, Redis } from 'ioredis';

/** Any ioredis client the packages accept: standalone, Sentinel-backed or Cluster. */
export type RedisClient = Redis | Cluster;

/** One script argument. */
export type ScriptArg = string | number;

const INCLUDE = /^--@include "([\w-]+)"\s*$/gm;

/** A Lua script with its SHA1, run with `EVALSHA` and an `EVAL` fallback. */
export class LuaScript {
  /** SHA1 of {@link LuaScript.source}, as Redis computes it. */
  readonly sha: string;

  constructor(
    /** File name without `.lua`, e.g. `renewLeadership-2`. */
    readonly name: string,
    /** The full source after includes are resolved. */
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Runs the script; every key it touches is in `keys`. */
  async run(redis: RedisClient, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    try {
      if (!plainClient(redis)) return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
      // The EVALSHA command built here: ioredis' own copies its arguments with `Array#flat`,
      // about 0.1 µs per argument — more than the rest of a grouped call's client side.
      const command: string[] = new Array(2 + keys.length + args.length);
      command[0] = this.sha;
      command[1] = String(keys.length);
      let at = 2;
      for (let i = 0; i < keys.length; i++) command[at++] = keys[i]!;
      for (let i = 0; i < args.length; i++) {
        const arg = args[i]!;
        // As ioredis turns arguments into strings (`null` and `undefined` from untyped callers: '').
        command[at++] = typeof arg === 'string' ? arg : arg == null ? '' : String(arg);
      }
      return await redis.sendCommand(new ScriptCommand(command));
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/** Reply as strings, as `redis.evalsha` gives it. */
const SCRIPT_COMMAND_OPTIONS = { replyEncoding: 'utf8' } as const;
const NO_ARGS: string[] = [];

/** `$<n>` for the argument lengths most arguments have. */
const LENGTH_PREFIX = Array.from({ length: 256 }, (_, n) => `$${n}`);

/** An `EVALSHA` whose arguments are strings already (see {@link LuaScript.run}). */
class ScriptCommand extends Command {
  constructor(args: string[]) {
    super('evalsha', NO_ARGS, SCRIPT_COMMAND_OPTIONS);
    this.args = args;
  }

  /**
   * The command in the Redis protocol, as ioredis writes it, joined at once: ioredis' own
   * concatenates five pieces per argument (a rope of short-lived strings, flattened again
   * when written) — the most garbage a queue call made.
   */
  override toWritable(): string {
    const args = this.args as string[];
    const parts: string[] = new Array(2 * args.length + 2);
    parts[0] = `*${args.length + 1}\r\n$7\r\nevalsha`;
    let k = 1;
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      const length = Buffer.byteLength(arg);
      parts[k++] = length < 256 ? LENGTH_PREFIX[length]! : `$${length}`;
      parts[k++] = arg;
    }
    parts[k] = '';
    return parts.join('\r\n');
  }
}

const protoEvalsha = Redis.prototype.evalsha;

/**
 * Whether `redis.evalsha` would send the command as {@link ScriptCommand} does: no key
 * prefix to add, no friendly error stacks, no auto-pipelining, and `evalsha` not wrapped
 * (instrumentation and tests count calls by wrapping it).
 */
function plainClient(redis: RedisClient): boolean {
  const options = redis.options;
  return (
    redis.evalsha === protoEvalsha &&
    !options.keyPrefix &&
    !options.showFriendlyErrorStack &&
    !options.enableAutoPipelining
  );
}

/**
 * A loader for the Lua scripts in `luaDir` (each package passes `new URL('./lua/', import.meta.url)`).
 * `load(name)` reads `<luaDir>/<name>.lua`, resolving `--@include "x"` lines to
 * `<luaDir>/includes/x.lua`.
 */
export function createScriptLoader(luaDir: URL): (name: string) => LuaScript {
  const resolveIncludes = (source: string, stack: string[]): string =>
    source.replace(INCLUDE, (_line, include: string) => {
      if (stack.includes(include))
        throw new Error(`circular Lua include: ${[...stack, include].join(' -> ')}`);
      const body = readFileSync(new URL(`includes/${include}.lua`, luaDir), 'utf8');
      return resolveIncludes(body, [...stack, include]);
    });
  return (name) =>
    new LuaScript(name, resolveIncludes(readFileSync(new URL(`${name}.lua`, luaDir), 'utf8'), []));
}
