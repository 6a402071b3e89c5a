// Installs the packed .vsix into code-server 4.100.3 (separate, temporary --extensions-dir and --user-data-dir)
// and checks that --list-extensions shows spike-studio.spike-studio and that the installed copy has its entry point.
//   node test/integration/install-vsix.mjs [spike-studio.vsix]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CODE_SERVER = join(REPO, '.cache/code-server/node_modules/.bin/code-server');
const ID = 'spike-studio.spike-studio';
const vsix = resolve(process.argv[2] || join(REPO, 'spike-studio.vsix'));

if (!existsSync(CODE_SERVER)) { console.log(`install-vsix: ${CODE_SERVER} missing (bash scripts/setup.sh code-server)`); process.exit(1); }
if (!existsSync(vsix)) { console.log(`install-vsix: ${vsix} missing (npm run package)`); process.exit(1); }

const tmp = mkdtempSync(join(tmpdir(), 'spike-vsix-'));
const env = { ...process.env, XDG_CONFIG_HOME: join(tmp, 'xdg'), XDG_DATA_HOME: join(tmp, 'xdg'), XDG_CACHE_HOME: join(tmp, 'xdg'), TMPDIR: tmpdir() };
const dirs = ['--user-data-dir', join(tmp, 'ud'), '--extensions-dir', join(tmp, 'ext')];
const cs = (...args) => execFileSync(CODE_SERVER, [...dirs, ...args], { env, encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
let ok = false;
try {
  const t = Date.now();
  const out = cs('--install-extension', vsix);
  console.log(out.trim().split('\n').filter((l) => !/Wrote default config/.test(l)).join('\n'));
  console.log(`install-vsix: installed in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const list = cs('--list-extensions', '--show-versions');
  console.log(`install-vsix: --list-extensions → ${list.trim().split('\n').join(', ')}`);
  const folder = readdirSync(join(tmp, 'ext')).find((d) => d.startsWith(`${ID}-`));
  ok = list.split('\n').some((l) => l.trim().startsWith(`${ID}@`)) && !!folder && existsSync(join(tmp, 'ext', folder, 'dist/extension.js'));
  if (!ok) console.log(`install-vsix: ${ID} not listed, or its dist/extension.js is missing in ${join(tmp, 'ext')}`);
} catch (e) {
  console.log(`install-vsix: ${e.message}\n${e.stderr ?? ''}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`install-vsix: ${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
process.exit(ok ? 0 : 1);
