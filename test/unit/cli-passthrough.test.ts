// spike-studio train --nproc/--nnodes/--rdzv-endpoint, resume / train --resume, and eval: the argv that reaches
// `python -m spikestudio` (recorded by the fake runtime through FAKE_ARGV_FILE).

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { CliContext } from '../../src/cli/context';
import { runCli } from '../../src/cli/main';
import { FAKE_RUNTIME, hasPython, removeDir, tempDir } from './helpers';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  return { stream, text: () => text };
}

describe('cli: runtime passthrough (train --nproc, resume, eval)', function () {
  this.timeout(20_000);
  let cwd: string;
  let argvFile: string;

  beforeEach(() => {
    cwd = tempDir('spike-cli-pass-');
    argvFile = path.join(cwd, 'argv.jsonl');
    fs.writeFileSync(path.join(cwd, 'exp.spike.yaml'), 'extends: spikformer-tiny/mnist\ntrain:\n  epochs: 1\n');
  });
  afterEach(() => removeDir(cwd));

  function context(): { ctx: CliContext; out: () => string; err: () => string } {
    const out = capture();
    const err = capture();
    const env = { ...process.env, FAKE_MODE: 'ok', FAKE_ARGV_FILE: argvFile, SPIKE_STUDIO_PYTHON: 'python3' };
    return { ctx: { stdout: out.stream, stderr: err.stream, cwd, env, runtimeRoot: FAKE_RUNTIME }, out: out.text, err: err.text };
  }

  /** argv of every runtime invocation except `doctor`. */
  function calls(): string[][] {
    if (!fs.existsSync(argvFile)) return [];
    return fs
      .readFileSync(argvFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as string[])
      .filter((a) => a[0] !== 'doctor');
  }

  function runDirs(): string[] {
    const runs = path.join(cwd, '.spike-studio', 'runs');
    return fs.existsSync(runs) ? fs.readdirSync(runs).map((id) => path.join(runs, id)) : [];
  }

  it('train --nproc/--nnodes/--rdzv-endpoint are passed to `python -m spikestudio train`', async function () {
    if (!hasPython()) this.skip();
    const { ctx, err } = context();
    const code = await runCli(['train', 'exp.spike.yaml', '--nproc', '2', '--nnodes', '2', '--rdzv-endpoint', 'head:29500'], ctx);
    assert.equal(code, 0, err());
    const [argv] = calls();
    const [dir] = runDirs();
    assert.deepEqual(argv, [
      'train', '--config', path.join(dir, 'config.resolved.json'), '--run-dir', dir,
      '--nproc', '2', '--nnodes', '2', '--rdzv-endpoint', 'head:29500',
    ]);
  });

  it('train without launch options passes none', async function () {
    if (!hasPython()) this.skip();
    const { ctx, err } = context();
    assert.equal(await runCli(['train', 'exp.spike.yaml'], ctx), 0, err());
    assert.equal(calls()[0].some((a) => /^--(nproc|nnodes|rdzv-endpoint|resume)$/.test(a)), false);
  });

  it('rejects bad launch options with a usage error (exit 2) and starts nothing', async function () {
    const { ctx, err } = context();
    assert.equal(await runCli(['train', 'exp.spike.yaml', '--nproc', '0'], ctx), 2);
    assert.match(err(), /--nproc must be a positive integer/);
    assert.equal(await runCli(['train', 'exp.spike.yaml', '--nproc', '2', '--nnodes', '2'], ctx), 2);
    assert.match(err(), /--nnodes > 1 needs --rdzv-endpoint/);
    assert.deepEqual(calls(), []);
  });

  it('resume RUN_DIR and train --resume RUN_DIR continue the same run dir (events appended)', async function () {
    if (!hasPython()) this.skip();
    const { ctx, err } = context();
    assert.equal(await runCli(['train', 'exp.spike.yaml'], ctx), 0, err());
    const [dir] = runDirs();
    const eventsBefore = fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).length;

    const rel = path.relative(cwd, dir);
    const second = context();
    assert.equal(await runCli(['resume', rel, '--nproc', '2'], second.ctx), 0, second.err());
    assert.match(second.err(), /resuming run /);
    assert.match(second.out(), /: completed/);
    const third = context();
    assert.equal(await runCli(['train', '--resume', rel], third.ctx), 0, third.err());

    const [, resumeArgv, trainResumeArgv] = calls();
    assert.deepEqual(resumeArgv, ['train', '--resume', dir, '--nproc', '2']);
    assert.deepEqual(trainResumeArgv, ['train', '--resume', dir]);
    assert.equal(runDirs().length, 1, 'no new run directory');
    const eventsAfter = fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).length;
    assert.ok(eventsAfter > eventsBefore, 'events appended to the same events.jsonl');
  });

  it('resume of a folder that is not a run is a usage error', async function () {
    fs.mkdirSync(path.join(cwd, 'empty'));
    const { ctx, err } = context();
    assert.equal(await runCli(['resume', 'empty'], ctx), 2);
    assert.match(err(), /not a run directory/);
    assert.equal(await runCli(['train', 'exp.spike.yaml', '--resume', 'empty'], ctx), 2);
  });

  it('eval --checkpoint FILE --split test delegates to `python -m spikestudio eval` and prints the summary', async function () {
    if (!hasPython()) this.skip();
    fs.writeFileSync(path.join(cwd, 'best.pt'), 'not really a checkpoint');
    const { ctx, out, err } = context();
    const code = await runCli(['eval', '--checkpoint', 'best.pt', '--split', 'test', '--out', 'summary.json'], ctx);
    assert.equal(code, 0, err());
    assert.deepEqual(calls()[0], ['eval', '--checkpoint', path.join(cwd, 'best.pt'), '--split', 'test', '--out', path.join(cwd, 'summary.json')]);
    assert.match(out(), /eval best\.pt \(test split, epoch 1, step 3\)/);
    assert.match(out(), /top-1 {4}87\.50%/);
    assert.match(out(), /samples {2}100/);
  });

  it('eval needs an existing --checkpoint', async function () {
    const { ctx, err } = context();
    assert.equal(await runCli(['eval'], ctx), 2);
    assert.match(err(), /eval needs --checkpoint FILE/);
    assert.equal(await runCli(['eval', '--checkpoint', 'missing.pt'], ctx), 1);
    assert.match(err(), /no such checkpoint/);
    assert.deepEqual(calls(), []);
  });
});
