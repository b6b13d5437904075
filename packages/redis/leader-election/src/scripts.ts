/** This package's Lua scripts (`src/lua`, copied to `dist/lua` by the build), run by SHA. */
import { createScriptLoader } from '@mcpmas/redis-common';

export type { LuaScript, RedisClient, ScriptArg } from '@mcpmas/redis-common';

/** Loads `lua/<name>.lua` of this package, resolving `--@include` lines. */
export const loadScript = createScriptLoader(new URL('./lua/', import.meta.url));
