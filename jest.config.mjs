// One jest run over every workspace package. Each package with a `test/` folder is a jest
// project; workspace imports (`@mcpmas/*`) resolve to the package's TypeScript source so tests
// never run against a stale `dist/`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const groups = [
  'packages',
  'packages/adapters',
  'packages/redis',
  'packages/notifiers',
  'packages/plugins',
  'apps',
];

function workspacePackages() {
  const found = [];
  for (const group of groups) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const pkgDir = join(dir, entry.name);
      const manifest = join(pkgDir, 'package.json');
      if (!entry.isDirectory() || !existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
      found.push({ name: pkg.name, dir: pkgDir, exports: pkg.exports ?? {} });
    }
  }
  return found;
}

const packages = workspacePackages();

/** `@mcpmas/x` and `@mcpmas/x/sub` → the TypeScript source behind the built file the exports map names. */
const moduleNameMapper = {};
for (const pkg of packages) {
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const built = typeof target === 'string' ? target : (target.import ?? target.default);
    if (typeof built !== 'string' || !built.startsWith('./dist/')) continue;
    const source = built.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
    const spec = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.replace(/^\.\//, '')}`;
    moduleNameMapper[`^${spec.replace(/[/.-]/g, (c) => `\\${c}`)}$`] = join(pkg.dir, source);
  }
}
// Relative ESM imports are written with `.js`; the sources are `.ts`.
moduleNameMapper['^(\\.{1,2}/.*)\\.js$'] = '$1';

const transform = {
  '^.+\\.(t|j)sx?$': [
    '@swc/jest',
    {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'es6' },
    },
  ],
};

export default {
  projects: packages
    .filter((pkg) => existsSync(join(pkg.dir, 'test')))
    .map((pkg) => ({
      displayName: pkg.name,
      rootDir: pkg.dir,
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      extensionsToTreatAsEsm: ['.ts'],
      transform,
      moduleNameMapper,
      testEnvironment: 'node',
      slowTestThreshold: 10,
    })),
  testTimeout: 30_000,
};
