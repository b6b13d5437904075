#!/usr/bin/env node
// Runs jest (ESM mode) over the workspace, then prints one plain summary line
// `N passed, N failed, N skipped` that CI reads. Extra arguments go to jest.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const jestPkg = createRequire(join(root, 'package.json')).resolve('jest/package.json');
const jestBin = join(dirname(jestPkg), 'bin', 'jest.js');
// One results file per run, so parallel runs never read each other's counts.
const results = join(tmpdir(), `mcpmas-jest-${process.pid}-${Date.now()}.json`);
rmSync(results, { force: true });

const child = spawnSync(
  process.execPath,
  [
    '--experimental-vm-modules',
    '--no-warnings=ExperimentalWarning',
    jestBin,
    '--config',
    join(root, 'jest.config.mjs'),
    '--json',
    `--outputFile=${results}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', cwd: process.cwd(), env: process.env },
);

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(results)) {
  const report = JSON.parse(readFileSync(results, 'utf8'));
  passed = report.numPassedTests;
  failed = report.numFailedTests + report.numRuntimeErrorTestSuites;
  skipped = report.numPendingTests + report.numTodoTests;
  rmSync(results, { force: true });
} else {
  failed = 1;
}
if (child.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(child.status ?? 1);
