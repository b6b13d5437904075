#!/usr/bin/env node
/**
 * `mcpmas-agent`: reads configuration, runs a model agent, drains and unregisters on SIGTERM/SIGINT.
 * Exit codes: 0 after a clean stop, 2 for a configuration error, 1 for any other failure.
 */
import { main } from './main.js';

process.exit(await main(process.argv.slice(2), process.env, process.cwd()));
