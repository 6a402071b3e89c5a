import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './helpers';

interface NoticesModule {
  SHIPPED_NODE_MODULES: string[];
  packagesOf(metafile: unknown): string[];
  writeNotices(root: string, metafiles: unknown[]): string[];
}

const load = (): Promise<NoticesModule> => import(pathToFileURL(path.join(REPO_ROOT, 'scripts', 'notices.mjs')).href) as Promise<NoticesModule>;

function fakePackage(root: string, name: string, pkg: object, files: Record<string, string> = {}): void {
  const dir = path.join(root, 'node_modules', name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, ...pkg }));
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
}

describe('third-party notices (dist/THIRD_PARTY_NOTICES.md in the .vsix)', () => {
  it('finds the bundled packages, scoped or not, among esbuild metafile inputs', async () => {
    const { packagesOf } = await load();
    const metafile = {
      inputs: {
        'src/extension/main.ts': {},
        'node_modules/uplot/dist/uPlot.esm.js': {},
        'node_modules/@dagrejs/dagre/dist/dagre.esm.js': {},
        'node_modules/@dagrejs/dagre/dist/other.js': {},
        'node_modules/a/node_modules/b/index.js': {},
      },
    };
    assert.deepEqual(packagesOf(metafile).sort(), ['@dagrejs/dagre', 'b', 'uplot']);
  });

  it('lists each shipped package once with its licence and licence text, plus the MNIST attribution; written atomically', async () => {
    const { writeNotices, SHIPPED_NODE_MODULES } = await load();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'notices-'));
    try {
      fs.mkdirSync(path.join(root, 'dist'));
      fakePackage(root, 'uplot', { version: '1.6.32', license: 'MIT', author: 'Leon Sorokin' }, { LICENSE: 'The MIT License (MIT) uPlot text' });
      fakePackage(root, 'onnxruntime-node', { version: '1.30.0', license: 'MIT' });
      fakePackage(root, 'onnxruntime-common', { version: '1.30.0', license: 'MIT' });
      const listed = writeNotices(root, [{ inputs: { 'node_modules/uplot/dist/u.js': {} } }, { inputs: { 'node_modules/uplot/dist/v.js': {} } }]);
      assert.deepEqual(listed, ['onnxruntime-common', 'onnxruntime-node', 'uplot']);
      for (const name of SHIPPED_NODE_MODULES) assert.ok(listed.includes(name), name);
      const text = fs.readFileSync(path.join(root, 'dist', 'THIRD_PARTY_NOTICES.md'), 'utf8');
      assert.equal(text.match(/^## uplot /gm)?.length, 1);
      assert.match(text, /## uplot 1\.6\.32 \(MIT\)/);
      assert.match(text, /uPlot text/);
      assert.match(text, /## onnxruntime-node 1\.30\.0 \(MIT\)[\s\S]*declares MIT/);
      assert.match(text, /Creative Commons Attribution-Share Alike 3\.0/);
      assert.deepEqual(fs.readdirSync(path.join(root, 'dist')), ['THIRD_PARTY_NOTICES.md'], 'no temp file left behind');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
