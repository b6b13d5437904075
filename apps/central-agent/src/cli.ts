#!/usr/bin/env node
/**
 * `mcpmas-hub`: reads configuration, starts a hub, stops it gracefully on SIGTERM/SIGINT.
 * Exit codes: 0 after a clean stop, 2 for a configuration error, 1 for any other failure.
 */
import { main } from './main.js';

process.exit(await main(process.argv.slice(2), process.env, process.cwd()));
