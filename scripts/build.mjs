// Builds every bundle with esbuild: the extension (Node, `vscode` and the native `onnxruntime-node` external), the CLI (Node), one browser
// bundle per webview, the in-host integration suite, and packs the embedded default dataset.
// Usage: node scripts/build.mjs [--production] [--watch]
import * as esbuild from 'esbuild';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { writeNotices } from './notices.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  absWorkingDir: root,
  loader: { '.json': 'json' },
};

/** @type {import('esbuild').BuildOptions[]} */
const builds = [
  { ...common, entryPoints: ['src/extension/main.ts'], outfile: 'dist/extension.js', platform: 'node', format: 'cjs', target: 'node20', external: ['vscode', 'onnxruntime-node'] },
  { ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', platform: 'node', format: 'cjs', target: 'node20', banner: { js: '#!/usr/bin/env node' } },
];

// One browser bundle per webview panel: webview/<panel>/main.ts → dist/webview/<panel>.js (+ .css when imported).
const webviewDir = join(root, 'webview');
if (existsSync(webviewDir)) {
  for (const name of readdirSync(webviewDir)) {
    const entry = join('webview', name, 'main.ts');
    if (statSync(join(webviewDir, name)).isDirectory() && existsSync(join(root, entry))) {
      builds.push({ ...common, entryPoints: [entry], outfile: `dist/webview/${name}.js`, platform: 'browser', format: 'iife', target: 'chrome110' });
    }
  }
}

// The integration suite that runs inside the VS Code extension host.
if (existsSync(join(root, 'test/integration/suite/index.ts'))) {
  builds.push({ ...common, entryPoints: ['test/integration/suite/index.ts'], outfile: 'out/integration/index.js', platform: 'node', format: 'cjs', target: 'node20', external: ['vscode', 'mocha', 'onnxruntime-node'] });
}

const present = builds.filter((b) => b.entryPoints.every((e) => existsSync(join(root, e))));

// The event types (TS, Python, docs) generated from events.schema.json; the unit tests fail when a committed one is stale.
execFileSync(process.execPath, [join(root, 'scripts/gen-protocol.mjs')], { stdio: 'inherit' });

if (existsSync(join(root, 'scripts/pack-mnist.mjs'))) {
  execFileSync(process.execPath, [join(root, 'scripts/pack-mnist.mjs')], { stdio: 'inherit' });
}

if (watch) {
  const contexts = await Promise.all(present.map((b) => esbuild.context(b)));
  await Promise.all(contexts.map((c) => c.watch()));
  console.log(`watching ${present.length} bundles`);
} else {
  // What the .vsix ships (the extension and the webviews) records its inputs for dist/THIRD_PARTY_NOTICES.md.
  const ships = (b) => b.outfile === 'dist/extension.js' || b.outfile.startsWith('dist/webview/');
  const results = await Promise.all(present.map((b) => esbuild.build({ ...b, metafile: ships(b) })));
  const listed = writeNotices(root, results.filter((r) => r.metafile).map((r) => r.metafile));
  console.log(`built ${present.length} bundles${production ? ' (production)' : ''}; THIRD_PARTY_NOTICES.md lists ${listed.length} packages`);
}
