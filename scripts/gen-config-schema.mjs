#!/usr/bin/env node
// Writes schemas/spike-config.schema.json (what a *.spike.yaml may contain) from the config's single field table
// (src/core/config/definition.ts, generateJsonSchema({mode: 'file'})), and the same text to
// runtime/spikestudio/schemas/spike-config.schema.json, where the runtime reads its defaults and allowed values
// (spikestudio/config_schema.py). Both files are committed and shipped (the first for `contributes.yamlValidation`);
// test/unit/schema.config.test.ts fails when either drifts from the table.
//
//   node scripts/gen-config-schema.mjs           regenerate
//   node scripts/gen-config-schema.mjs --check   exit 1 when a committed file is stale

import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outputs = [
  path.join(root, 'schemas', 'spike-config.schema.json'),
  path.join(root, 'runtime', 'spikestudio', 'schemas', 'spike-config.schema.json'),
];

const bundle = await esbuild.build({
  entryPoints: [path.join(root, 'src', 'core', 'config', 'definition.ts')],
  bundle: true,
  write: false,
  format: 'cjs',
  platform: 'node',
  logLevel: 'error',
});
const mod = { exports: {} };
new Function('module', 'exports', 'require', bundle.outputFiles[0].text)(mod, mod.exports, createRequire(import.meta.url));
const text = JSON.stringify(mod.exports.generateJsonSchema({ mode: 'file' }), null, 2) + '\n';

if (process.argv.includes('--check')) {
  const stale = outputs.filter((out) => (fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '') !== text);
  for (const out of stale) console.error(`${path.relative(root, out)} is stale: run node scripts/gen-config-schema.mjs`);
  if (stale.length) process.exit(1);
  console.log(`${outputs.map((out) => path.relative(root, out)).join(' and ')} are up to date`);
} else {
  for (const out of outputs) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, text);
    console.log(`wrote ${path.relative(root, out)}`);
  }
}
