import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Describer, describeKey, isCustomModelSection, parseDescribeOutput } from '../../src/core/runtime/describe';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLES = path.join(ROOT, 'examples/custom');
const VENV_PYTHON = path.join(ROOT, '.venv/bin/python');

/** A stand-in python: sleeps $SLEEP seconds, then prints $OUT (a JSON line). */
function fakePython(dir: string): string {
  const p = path.join(dir, 'python');
  fs.writeFileSync(p, '#!/bin/sh\nsleep "${SLEEP:-0}"\nprintf "%s\\n" "$OUT"\n', { mode: 0o755 });
  return p;
}

const MODEL = { arch: 'custom', source: path.join(EXAMPLES, 'models/lif_former.py'), entry: 'LIFFormer', args: { dim: 16, heads: 2 }, time_steps: 2, in_channels: 1, num_classes: 10, img_size: 28 };
const OK = JSON.stringify({ arch: 'custom', params: 1, time_steps: 2, num_classes: 10, layers: [{ name: 'a', kind: 'lif', params: 0 }] });

describe('runtime/describe: custom models described in a background process', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spike-desc-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('knows which sections are custom and keys the cache on the section and the files', () => {
    assert.ok(isCustomModelSection(MODEL));
    assert.ok(isCustomModelSection({ arch: 'my-former', plugins: ['/x.py'] }));
    assert.ok(!isCustomModelSection({ arch: 'spikformer', plugins: null }));
    const src = path.join(dir, 'm.py');
    fs.writeFileSync(src, 'A = 1\n');
    const model = { ...MODEL, source: src };
    const k1 = describeKey(model);
    assert.equal(describeKey(model), k1);
    fs.writeFileSync(src, 'A = 2\n');
    assert.notEqual(describeKey(model), k1);
    assert.notEqual(describeKey({ ...model, args: { dim: 8 } }), describeKey(model));
  });

  it('parses the model, an error with file and line, and garbage', () => {
    const ok = parseDescribeOutput(OK + '\n');
    assert.ok(ok.ok && ok.model.layers.length === 1);
    const err = parseDescribeOutput(JSON.stringify({ error: { kind: 'user_code', message: 'boom', file: '/m.py', line: 12 } }));
    assert.ok(!err.ok && err.error.file === '/m.py' && err.error.line === 12);
    const bad = parseDescribeOutput('', 'Traceback\nValueError: x\n');
    assert.ok(!bad.ok && /ValueError: x/.test(bad.error.message));
  });

  it('caches by hash, cancels a superseded describe, times out, and never runs in a restricted workspace', async () => {
    const python = fakePython(dir);
    const d = new Describer();
    const src = path.join(dir, 'm.py');
    fs.writeFileSync(src, 'A = 1\n');
    const model = { ...MODEL, source: src };
    const req = { python, runtimeRoot: dir, configPath: path.join(dir, 'a.spike.yaml'), resolved: { model } };
    const first = await d.describe({ ...req, env: { ...process.env, OUT: OK } });
    assert.ok(first !== 'cancelled' && first.ok);
    assert.equal(d.started, 1);
    await d.describe({ ...req, env: { ...process.env, OUT: OK } });
    assert.equal(d.started, 1, 'served from the cache');

    fs.writeFileSync(src, 'A = 2\n'); // the model file saved: a new key
    const slow = d.describe({ ...req, env: { ...process.env, OUT: OK, SLEEP: '5' } });
    fs.writeFileSync(src, 'A = 3\n');
    const newer = d.describe({ ...req, env: { ...process.env, OUT: OK } });
    assert.equal(await slow, 'cancelled');
    const r = await newer;
    assert.ok(r !== 'cancelled' && r.ok);

    fs.writeFileSync(src, 'A = 4\n');
    const timedOut = await d.describe({ ...req, timeoutMs: 300, env: { ...process.env, OUT: OK, SLEEP: '5' } });
    assert.ok(timedOut !== 'cancelled' && !timedOut.ok && timedOut.error.kind === 'timeout');

    const before = d.started;
    const restricted = await d.describe({ ...req, restricted: true, resolved: { model: { ...model, args: { dim: 99 } } } });
    assert.ok(restricted !== 'cancelled' && !restricted.ok && restricted.error.kind === 'restricted');
    assert.equal(d.started, before);
    d.dispose();
  });

  it('describes the examples with the real runtime: layers, edges, the entry signature; a raise in forward has its line', async function () {
    if (!fs.existsSync(VENV_PYTHON)) this.skip();
    this.timeout(240_000);
    const d = new Describer();
    const base = { python: VENV_PYTHON, runtimeRoot: path.join(ROOT, 'runtime'), timeoutMs: 200_000 };
    const r = await d.describe({ ...base, configPath: path.join(EXAMPLES, 'lif-former.spike.yaml'), resolved: { model: MODEL } });
    assert.ok(r !== 'cancelled' && r.ok, JSON.stringify(r));
    assert.ok(r.model.layers.some((l) => l.kind === 'lif' && l.spiking));
    assert.ok(r.model.edges && r.model.edges.length > 0);
    assert.match(r.model.entry?.signature ?? '', /^LIFFormer\(dim: int = 32/);

    const src = path.join(dir, 'bad_model.py');
    fs.writeFileSync(src, fs.readFileSync(MODEL.source, 'utf8').replace('        z = self.blocks(z)\n', '        z = self.blocks(z)\n        raise RuntimeError("my bug")\n'));
    const line = fs.readFileSync(src, 'utf8').split('\n').findIndex((l) => l.includes('my bug')) + 1;
    const bad = await d.describe({ ...base, configPath: path.join(dir, 'b.spike.yaml'), resolved: { model: { ...MODEL, source: src } } });
    assert.ok(bad !== 'cancelled' && !bad.ok, JSON.stringify(bad));
    assert.equal(bad.error.file, src);
    assert.equal(bad.error.line, line);
    assert.match(bad.error.message, /RuntimeError: my bug/);
  });
});
