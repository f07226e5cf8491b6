// CI step after the tests: packs every publishable workspace package the way `pnpm publish` would
// (workspace: ranges replaced by versions), installs the tarballs into a scratch project outside the
// workspace, then imports every entry point with plain `node` (ESM) and type-checks an import of
// each with `tsc --module nodenext`. A broken `dist` (a missing file, an export map pointing
// nowhere, a .d.ts that does not resolve) fails here instead of in a release.
//
// Run from the repository root after `pnpm build`: node .ci/pack-check.mjs
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const pnpm = ['--yes', 'pnpm@10.34.9'];
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] }).toString();

// Every non-private package of the workspace, with its entry points (keys of `exports` that are not
// package.json).
const packages = [];
for (const parent of ['packages', 'apps']) {
  for (const dir of readdirSync(join(root, parent))) {
    const path = join(root, parent, dir);
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    if (manifest.private) continue;
    const entries = Object.keys(manifest.exports ?? { '.': null })
      .filter((key) => key !== './package.json')
      .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`));
    packages.push({ name: manifest.name, path, entries });
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'deja-pack-check-'));
try {
  const tarballs = join(scratch, 'tarballs');
  mkdirSync(tarballs);
  const files = {};
  for (const pkg of packages) {
    const out = run('npx', [...pnpm, 'pack', '--pack-destination', tarballs], pkg.path)
      .trim()
      .split('\n');
    const tgz = out.findLast((line) => line.endsWith('.tgz'));
    if (!tgz) throw new Error(`pnpm pack printed no tarball for ${pkg.name}`);
    files[pkg.name] = `file:${join(tarballs, tgz.split('/').pop())}`;
  }
  const project = join(scratch, 'project');
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify(
      {
        name: 'deja-pack-check',
        private: true,
        type: 'module',
        dependencies: files,
        overrides: files,
        devDependencies: { '@types/node': '^20.19.0', typescript: '~5.9.3' },
      },
      null,
      2,
    ),
  );
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], project);

  const all = packages.flatMap((pkg) => pkg.entries);
  writeFileSync(
    join(project, 'check.mjs'),
    `${all.map((entry, i) => `import * as m${i} from '${entry}';`).join('\n')}\n` +
      `const modules = { ${all.map((entry, i) => `'${entry}': m${i}`).join(', ')} };\n` +
      'for (const [entry, module] of Object.entries(modules)) {\n' +
      '  const names = Object.keys(module).filter((name) => module[name] !== undefined);\n' +
      "  if (names.length === 0) throw new Error(entry + ': no exports');\n" +
      "  console.log(entry + ': ' + names.length + ' exports');\n" +
      '}\n',
  );
  process.stdout.write(run('node', ['check.mjs'], project));

  writeFileSync(
    join(project, 'check.ts'),
    `${all.map((entry, i) => `import * as m${i} from '${entry}';`).join('\n')}\n` +
      `export const modules = [${all.map((_, i) => `m${i}`).join(', ')}];\n`,
  );
  run(
    'npx',
    [
      'tsc',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--strict',
      '--noEmit',
      'check.ts',
    ],
    project,
  );
  console.log(
    `pack check: ${packages.length} packages, ${all.length} entry points import and type-check from their tarballs`,
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
