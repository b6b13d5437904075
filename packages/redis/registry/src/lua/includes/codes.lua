-- Reply codes shared with src/errors.ts (ScriptCode). Negative means the script changed nothing.
local E_NOT_FOUND = -1
local E_STALE_FENCE = -4
