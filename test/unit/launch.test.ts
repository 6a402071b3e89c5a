import { strict as assert } from 'node:assert';
import { configDefaults, type ResolvedConfig } from '../../src/core/config';
import type { RuntimeEvent } from '../../src/core/protocol';
import { createRun } from '../../src/core/runs';
import { launchTraining, type LaunchTrainingOptions } from '../../src/core/runtime';
import { FAKE_RUNTIME, hasPython, removeDir, tempDir } from './helpers';

const RESOLVED: ResolvedConfig = { version: 1, name: 'fake', source: null, ...configDefaults() };

describe('runtime/launch: launchTraining (Python → doctor → run dir → spawn) against a fake runtime', function () {
  let root: string;
  let steps: string[];
  before(function () {
    if (!hasPython()) this.skip();
  });
  beforeEach(() => {
    root = tempDir();
    steps = [];
  });
  afterEach(() => removeDir(root));

  function options(mode: string, overrides: Partial<LaunchTrainingOptions> = {}): LaunchTrainingOptions {
    const env = { ...process.env, FAKE_MODE: mode };
    return {
      python: { configured: 'python3', cwd: root, env },
      runtimeRoot: FAKE_RUNTIME,
      cwd: root,
      doctor: { env },
      aroundDoctor: (check) => (steps.push('doctor'), check()),
      onPython: (python) => steps.push(`python ${python.path} (${python.source})`),
      onDoctorReport: (report) => steps.push(`report torch=${report.torch}`),
      runDir: () => (steps.push('run dir'), createRun(root, RESOLVED)),
      env: { FAKE_MODE: mode },
      ...overrides,
    };
  }

  it('a usable interpreter: asks for the run dir after doctor, then starts the training there', async () => {
    const launched = await launchTraining(options('ok'));
    assert.equal(launched.kind, 'started');
    if (launched.kind !== 'started') return;
    assert.deepEqual(steps, ['python python3 (setting)', 'doctor', 'report torch=2.5.0', 'run dir']);
    const events: RuntimeEvent[] = [];
    launched.proc.onEvent((e) => events.push(e));
    const { code } = await launched.proc.exited;
    assert.equal(code, 0);
    assert.equal(launched.proc.runDir, launched.run.dir);
    assert.equal(events.at(-1)?.type, 'done');
  });

  it('an interpreter that cannot train (no torch): reports doctor-failed and makes no run dir', async () => {
    const launched = await launchTraining(options('notorch'));
    assert.equal(launched.kind, 'doctor-failed');
    assert.equal(launched.report.torch, null);
    assert.deepEqual(steps, ['python python3 (setting)', 'doctor', 'report torch=null']);
  });

  it('no run dir (the caller said why): nothing is started', async () => {
    const launched = await launchTraining(options('ok', { runDir: () => null }));
    assert.equal(launched.kind, 'no-run-dir');
  });

  it('resume: continues the given run (train --resume RUN_DIR)', async () => {
    const run = createRun(root, RESOLVED);
    const launched = await launchTraining(options('ok', { runDir: () => run, resume: true }));
    assert.equal(launched.kind, 'started');
    if (launched.kind !== 'started') return;
    assert.equal(launched.run, run);
    assert.equal((await launched.proc.exited).code, 0);
  });
});
