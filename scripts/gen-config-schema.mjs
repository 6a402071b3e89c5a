#!/usr/bin/env node
// Writes schemas/spike-config.schema.json (what a *.spike.yaml may contain) from the config's single field table
// (src/core/config/definition.ts, generateJsonSchema({mode: 'file'})). The file is committed and shipped for
// `contributes.yamlValidation`; test/unit/schema.config.test.ts fails when it drifts from the table.
//
//   node scripts/gen-config-schema.mjs           regenerate
//   node scripts/gen-config-schema.mjs --check   exit 1 when the committed file is stale

import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'schemas', 'spike-config.schema.json');

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
  const current = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  if (current !== text) {
    console.error(`${path.relative(root, out)} is stale: run node scripts/gen-config-schema.mjs`);
    process.exit(1);
  }
  console.log(`${path.relative(root, out)} is up to date`);
} else {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, text);
  console.log(`wrote ${path.relative(root, out)}`);
}
