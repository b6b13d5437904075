#!/usr/bin/env node
// Generates src/generated from the repository's proto/ folder with ts-proto, using the protoc
// binary shipped in the `protoc` npm package, so nothing outside the npm registry is needed.
//
//   node scripts/codegen.mjs           regenerate src/generated
//   node scripts/codegen.mjs --check   regenerate into a temp dir; exit 1 if src/generated differs
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = dirname(dirname(fileURLToPath(import.meta.url)));
const repoRoot = join(pkgDir, '..', '..', '..');
const protoRoot = join(repoRoot, 'proto');
const target = join(pkgDir, 'src', 'generated');
const check = process.argv.includes('--check');
const require = createRequire(join(pkgDir, 'package.json'));

/** ts-proto options; see the package README for why each one is set. */
const TS_PROTO_OPTIONS = [
  'esModuleInterop=true',
  'importSuffix=.js',
  'env=node',
  'outputServices=grpc-js',
  'outputJsonMethods=false',
  'useUnknownForValue=true',
  'forceLong=number',
  'useExactTypes=false',
];

function listFiles(dir, base = dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listFiles(full, base));
    else out.push(relative(base, full));
  }
  return out;
}

function generate(outDir) {
  const protocDir = dirname(require.resolve('protoc/package.json'));
  const assets = JSON.parse(readFileSync(join(protocDir, 'assets.json'), 'utf8'));
  const asset = assets.find((a) => a.platform === process.platform && a.arch === process.arch);
  if (!asset) throw new Error(`the protoc package has no binary for ${process.platform}/${process.arch}`);
  const protoc = join(protocDir, 'bin', asset.executable);
  const plugin = join(dirname(require.resolve('ts-proto/package.json')), 'protoc-gen-ts_proto');
  const protos = listFiles(protoRoot).filter((f) => f.endsWith('.proto'));
  const result = spawnSync(
    protoc,
    [
      `--plugin=protoc-gen-ts_proto=${plugin}`,
      `--ts_proto_out=${outDir}`,
      `--ts_proto_opt=${TS_PROTO_OPTIONS.join(',')}`,
      `--proto_path=${protoRoot}`,
      `--proto_path=${join(protocDir, 'include')}`,
      ...protos,
    ],
    { stdio: 'inherit' },
  );
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (check) {
  const tmp = mkdtempSync(join(tmpdir(), 'mcpmas-codegen-'));
  try {
    generate(tmp);
    const fresh = listFiles(tmp);
    const committed = listFiles(target);
    const stale = [];
    for (const f of new Set([...fresh, ...committed])) {
      if (!fresh.includes(f)) stale.push(`${f} (should not exist)`);
      else if (!committed.includes(f)) stale.push(`${f} (missing)`);
      else if (readFileSync(join(tmp, f), 'utf8') !== readFileSync(join(target, f), 'utf8'))
        stale.push(`${f} (differs)`);
    }
    if (stale.length > 0) {
      console.error(`generated code is stale; run \`pnpm codegen\`:\n  ${stale.join('\n  ')}`);
      process.exit(1);
    }
    console.log(`generated code is up to date (${fresh.length} files)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  const tmp = mkdtempSync(join(tmpdir(), 'mcpmas-codegen-'));
  try {
    generate(tmp);
    rmSync(target, { recursive: true, force: true });
    cpSync(tmp, target, { recursive: true });
    console.log(`generated ${listFiles(target).length} files into ${relative(repoRoot, target)}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
