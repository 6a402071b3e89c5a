import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/main';
import { type CliContext } from '../../src/cli/context';
import { TrainingProgress } from '../../src/cli/progress';
import { configDefaults } from '../../src/core/config';
import { createRun } from '../../src/core/runs';
import { FAKE_RUNTIME, FIXTURES, hasPython, removeDir, tempDir } from './helpers';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  return { stream, text: () => text };
}

function context(cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const out = capture();
  const err = capture();
  const ctx: CliContext = { stdout: out.stream, stderr: err.stream, cwd, env, runtimeRoot: FAKE_RUNTIME };
  return { ctx, out: out.text, err: err.text };
}

describe('cli: spike-studio', () => {
  let cwd: string;
  beforeEach(() => (cwd = tempDir()));
  afterEach(() => removeDir(cwd));

  it('validate prints file:line:col: error: message and exits 1', async () => {
    const { ctx, out, err } = context(FIXTURES);
    const code = await runCli(['validate', 'configs/malformed.spike.yaml'], ctx);
    assert.equal(code, 1);
    const lines = out().trim().split('\n');
    assert.ok(lines.some((l) => l.startsWith('configs/malformed.spike.yaml:4:14: error: model.embed_dim must be an integer')), out());
    assert.ok(lines.some((l) => /:6:3: error: Unknown key "time_step" in model\. Did you mean "time_steps"\?/.test(l)), out());
    assert.ok(lines.some((l) => /:1:1: error: Missing section "data"/.test(l)), out());
    assert.match(err(), /4 errors, 0 warnings in 1 file/);
  });

  it('validate exits 0 on a valid file', async () => {
    fs.writeFileSync(path.join(cwd, 'ok.spike.yaml'), 'extends: spikformer-tiny/mnist\n');
    const { ctx, out } = context(cwd);
    assert.equal(await runCli(['validate', 'ok.spike.yaml'], ctx), 0);
    assert.equal(out(), '');
  });

  it('usage errors exit 2', async () => {
    const { ctx, err } = context(cwd);
    assert.equal(await runCli(['validate'], ctx), 2);
    assert.equal(await runCli(['frobnicate'], ctx), 2);
    assert.match(err(), /usage:/);
  });

  it('runs --json lists the runs of the cwd', async () => {
    createRun(cwd, { version: 1, name: 'listed', source: null, ...configDefaults() });
    const { ctx, out } = context(cwd);
    assert.equal(await runCli(['runs', '--json'], ctx), 0);
    const runs = JSON.parse(out());
    assert.equal(runs.length, 1);
    assert.equal(runs[0].name, 'listed');
  });

  it('train runs the (fake) runtime to completion and prints a summary', async function () {
    if (!hasPython()) this.skip();
    fs.writeFileSync(path.join(cwd, 'exp.spike.yaml'), 'extends: spikformer-tiny/mnist\ntrain:\n  epochs: 1\n');
    const { ctx, out, err } = context(cwd, { ...process.env, FAKE_MODE: 'ok', SPIKE_STUDIO_PYTHON: 'python3' });
    const code = await runCli(['train', 'exp.spike.yaml'], ctx);
    assert.equal(code, 0, err());
    assert.match(out(), /run \d{8}-\d{6}-exp: completed/);
    assert.match(out(), /best top-1 {2}90\.00%/);
    assert.match(err(), /epoch 1\/1 eval: top-1 90\.0%/);
  });

  it('train stops with exit 1 and the pip command when torch is missing', async function () {
    if (!hasPython()) this.skip();
    fs.writeFileSync(path.join(cwd, 'exp.spike.yaml'), 'extends: spikformer-tiny/mnist\n');
    const { ctx, err } = context(cwd, { ...process.env, FAKE_MODE: 'notorch' });
    assert.equal(await runCli(['train', 'exp.spike.yaml', '--python', 'python3'], ctx), 1);
    assert.match(err(), /fix: python3 -m pip install torch/);
  });

  it('train shows the runtime error and hint on failure', async function () {
    if (!hasPython()) this.skip();
    fs.writeFileSync(path.join(cwd, 'exp.spike.yaml'), 'extends: spikformer-tiny/mnist\n');
    const { ctx, out, err } = context(cwd, { ...process.env, FAKE_MODE: 'fail' });
    assert.equal(await runCli(['train', 'exp.spike.yaml', '--python', 'python3'], ctx), 1);
    assert.match(err(), /error \(data\): data\.root does not exist\n {2}hint: set data\.root/);
    assert.match(out(), /: failed/);
  });
});

describe('cli: progress line', () => {
  it('shows epoch, step, loss, acc, top-1, img/s and ETA; plain mode prints periodic lines', () => {
    let written = '';
    let now = 0;
    const progress = new TrainingProgress({ write: (t: string) => (written += t), isTTY: false }, { now: () => now, plainIntervalMs: 1000 });
    progress.handle({ v: 1, type: 'epoch', t: 0, seq: 0, epoch: 1, epochs: 3, steps_per_epoch: 100, lr: 0.001 });
    const step = (n: number) => ({ v: 1, type: 'step' as const, t: 0, seq: n, epoch: 1, step: n, epoch_step: n, steps_per_epoch: 100, loss: 0.5, acc: 0.8, lr: 0.001, img_per_s: 1500, eta_s: 95 });
    progress.handle(step(10));
    now = 500;
    progress.handle(step(20)); // within the interval: not printed
    now = 1500;
    progress.handle(step(30));
    const lines = written.trim().split('\n');
    assert.equal(lines.length, 2); // the epoch line, then step 30 (step 10 and 20 fall within the interval)
    assert.match(lines[1], /^epoch 1\/3 │ .* 30\/100 │ step 30 │ loss 0\.5000 │ acc 80\.0% │ top-1 -- │ 1\.5k img\/s │ ETA 1m35s$/);
  });

  it('progress: says when the training step compiles (train.compile) and how long the first step took', () => {
    let written = '';
    const progress = new TrainingProgress({ write: (t: string) => (written += t), isTTY: false });
    const phase = { v: 1, type: 'phase' as const, t: 0, name: 'compile', mode: 'default', backend: 'inductor', cache_dir: '/c/torch-compile' };
    progress.handle({ ...phase, seq: 0, state: 'start' });
    progress.handle({ ...phase, seq: 1, state: 'end', ok: true, seconds: 83, cache: 'cold', graphs: 1 });
    progress.handle({ ...phase, seq: 2, state: 'end', ok: false, seconds: 2, cache: 'none' }); // a fallback: the warning says it
    progress.handle({ v: 1, type: 'phase', t: 0, seq: 3, name: 'future', state: 'start' }); // unknown phases: nothing
    assert.deepEqual(written.trim().split('\n'), [
      'compiling the training step (train.compile default) at the first step… (cached in /c/torch-compile)',
      'compiled: first step 1m23s (cache cold)',
    ]);
  });
});
