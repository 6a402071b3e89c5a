import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/main';
import {
  checkPython,
  chooseTorchBuild,
  compareDriverVersions,
  cudaBuildForDriver,
  FALLBACK_REQUIREMENTS,
  OWNER_MARKER,
  parseNvidiaSmi,
  planSetup,
  READY_MARKER,
  readRuntimeRequirements,
  runCommand,
  setupEnvironment,
  TORCH_CPU_INDEX,
  type CommandRunner,
  type DoctorReport,
  type RunResult,
  type SetupProgress,
  unfinishedEnvironmentProblem,
} from '../../src/core/runtime';
import { REPO_ROOT, removeDir, tempDir, waitFor } from './helpers';

const CPU = chooseTorchBuild([], 'linux');
const REQ = { torch: 'torch>=2.1', numpy: 'numpy' };

describe('runtime/cuda: driver → PyTorch CUDA build', () => {
  it('compares dotted driver versions numerically', () => {
    assert.equal(compareDriverVersions('570.124.06', '570.26'), 1);
    assert.equal(compareDriverVersions('560.28.03', '560.28.03'), 0);
    assert.equal(compareDriverVersions('535.104.05', '560.28.03'), -1);
  });

  it('maps Linux drivers to the newest build they run', () => {
    assert.equal(cudaBuildForDriver('580.65.06', 'linux')?.tag, 'cu130');
    assert.equal(cudaBuildForDriver('590.10', 'linux')?.tag, 'cu130');
    assert.equal(cudaBuildForDriver('575.51.03', 'linux')?.tag, 'cu128');
    assert.equal(cudaBuildForDriver('570.26', 'linux')?.tag, 'cu128');
    assert.equal(cudaBuildForDriver('565.57.01', 'linux')?.tag, 'cu126');
    // CUDA 12 minor-version compatibility
    const old = cudaBuildForDriver('535.104.05', 'linux');
    assert.equal(old?.tag, 'cu126');
    assert.match(old?.note ?? '', /minor-version/);
    assert.equal(cudaBuildForDriver('525.60.13', 'linux')?.tag, 'cu126');
    assert.equal(cudaBuildForDriver('470.82.01', 'linux'), null);
    assert.equal(cudaBuildForDriver('not a version', 'linux'), null);
  });

  it('uses the Windows minimums on win32', () => {
    assert.equal(cudaBuildForDriver('560.76', 'win32')?.tag, 'cu126');
    assert.equal(cudaBuildForDriver('580.88', 'win32')?.tag, 'cu130');
    assert.equal(cudaBuildForDriver('527.41', 'win32')?.tag, 'cu126');
    assert.equal(cudaBuildForDriver('526.0', 'win32'), null);
  });

  it('parses nvidia-smi CSV output', () => {
    const gpus = parseNvidiaSmi('550.54.15, NVIDIA H100 80GB HBM3, 81559\n550.54.15, NVIDIA H100 80GB HBM3, 81559\n');
    assert.deepEqual(gpus[0], { driverVersion: '550.54.15', name: 'NVIDIA H100 80GB HBM3', memoryMb: 81559 });
    assert.equal(gpus.length, 2);
    assert.deepEqual(parseNvidiaSmi('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'), []);
  });

  it('chooses the CUDA index for a GPU, the CPU index without one, PyPI on macOS', () => {
    const gpu = chooseTorchBuild([{ name: 'RTX 4090', driverVersion: '570.133.07', memoryMb: 24564 }], 'linux');
    assert.equal(gpu.indexUrl, 'https://download.pytorch.org/whl/cu128');
    assert.equal(gpu.build, 'cu128');
    assert.match(gpu.reason, /driver 570\.133\.07/);
    assert.equal(CPU.indexUrl, TORCH_CPU_INDEX);
    assert.equal(CPU.build, 'cpu');
    const tooOld = chooseTorchBuild([{ name: 'K80', driverVersion: '470.82.01', memoryMb: 11441 }], 'linux');
    assert.equal(tooOld.indexUrl, TORCH_CPU_INDEX);
    assert.match(tooOld.reason, /older than 525\.60\.13/);
    assert.equal(chooseTorchBuild([], 'darwin').indexUrl, null);
  });
});

describe('runtime/setupEnvironment: the torch requirement comes from the runtime', () => {
  it('reads runtime/pyproject.toml, and doctor.py checks the same minimum', () => {
    const req = readRuntimeRequirements(path.join(REPO_ROOT, 'runtime'));
    assert.deepEqual(req, FALLBACK_REQUIREMENTS);
    const min = /^torch>=(\d+)\.(\d+)$/.exec(req.torch);
    assert.ok(min, req.torch);
    const doctor = fs.readFileSync(path.join(REPO_ROOT, 'runtime/spikestudio/doctor.py'), 'utf8');
    assert.match(doctor, new RegExp(`^MIN_TORCH = \\(${min[1]}, ${min[2]}\\)$`, 'm'));
  });

  it('falls back when there is no pyproject.toml', () => {
    assert.deepEqual(readRuntimeRequirements('/no/such/dir'), FALLBACK_REQUIREMENTS);
  });
});

describe('runtime/setupEnvironment: the plan', () => {
  const base = { venvDir: '/envs/spike', basePython: 'python3', requirements: REQ, build: CPU, env: {}, platform: 'linux' as const };
  const ids = (plan: ReturnType<typeof planSetup>) => plan.steps.map((s) => s.id);

  it('a new environment: python check, venv, torch (CPU index), numpy, doctor, ready marker last', () => {
    const plan = planSetup({ ...base, state: { kind: 'missing' } });
    assert.deepEqual(ids(plan), ['python', 'venv', 'torch', 'numpy', 'doctor', 'ready']);
    assert.equal(plan.python, '/envs/spike/bin/python');
    assert.deepEqual(plan.steps[1].argv, ['python3', '-m', 'venv', '/envs/spike']);
    const torch = plan.steps[2].argv ?? [];
    assert.equal(torch[0], '/envs/spike/bin/python');
    assert.deepEqual(torch.slice(1, 4), ['-m', 'pip', 'install']);
    assert.ok(torch.includes('torch>=2.1'));
    assert.deepEqual(torch.slice(-2), ['--index-url', TORCH_CPU_INDEX]);
    assert.ok(!(plan.steps[3].argv ?? []).includes('--index-url'), 'numpy comes from pip’s own index');
  });

  it('a ready environment: doctor only', () => {
    assert.deepEqual(ids(planSetup({ ...base, state: { kind: 'ready' } })), ['doctor']);
  });

  it('a half-made environment is repaired in place; a broken one of ours is recreated', () => {
    assert.deepEqual(ids(planSetup({ ...base, state: { kind: 'partial' } })), ['torch', 'numpy', 'doctor', 'ready']);
    assert.deepEqual(ids(planSetup({ ...base, state: { kind: 'broken', ours: true } })), ['remove', 'python', 'venv', 'torch', 'numpy', 'doctor', 'ready']);
  });

  it('passes pipArgs to every pip install; an index in pipArgs replaces torch’s own', () => {
    const mirror = planSetup({ ...base, state: { kind: 'partial' }, pipArgs: ['--proxy', 'http://proxy:3128', '--extra-index-url', 'https://mirror/simple'] });
    for (const step of mirror.steps.filter((s) => s.argv)) assert.deepEqual(step.argv?.slice(-4), ['--proxy', 'http://proxy:3128', '--extra-index-url', 'https://mirror/simple']);
    assert.equal(mirror.torchIndexUrl, TORCH_CPU_INDEX);
    for (const own of [['--index-url', 'https://mirror/simple'], ['--index-url=https://mirror/simple'], ['-i', 'https://m'], ['--no-index', '--find-links', '/wheels']]) {
      const plan = planSetup({ ...base, state: { kind: 'partial' }, pipArgs: own });
      assert.equal(plan.torchIndexUrl, null, own.join(' '));
      assert.deepEqual(plan.steps[0].argv?.slice(-own.length), own);
      assert.equal(plan.steps[0].argv?.filter((a) => a === TORCH_CPU_INDEX).length, 0);
    }
  });

  it('SPIKE_STUDIO_TORCH_SPEC and SPIKE_STUDIO_TORCH_INDEX (empty: pip’s own index) override the defaults', () => {
    const plan = planSetup({ ...base, state: { kind: 'partial' }, env: { SPIKE_STUDIO_TORCH_SPEC: 'torch==2.13.0', SPIKE_STUDIO_TORCH_INDEX: '' } });
    assert.equal(plan.torchSpec, 'torch==2.13.0');
    assert.equal(plan.torchIndexUrl, null);
    assert.ok(plan.steps[0].argv?.includes('torch==2.13.0'));
    assert.ok(!plan.steps[0].argv?.includes('--index-url'));
    const mirror = planSetup({ ...base, state: { kind: 'partial' }, env: { SPIKE_STUDIO_TORCH_INDEX: 'https://mirror/torch-cpu' } });
    assert.equal(mirror.torchIndexUrl, 'https://mirror/torch-cpu');
  });

  it('uses Scripts\\python.exe on Windows', () => {
    assert.equal(planSetup({ ...base, venvDir: 'C:\\envs\\spike', platform: 'win32', state: { kind: 'missing' } }).python, path.join('C:\\envs\\spike', 'Scripts', 'python.exe'));
  });
});

/** A fake pip/venv: records argv; `venv` makes bin/python (a shell script) and pyvenv.cfg; a step can hang until aborted. */
function fakeRunner(calls: string[][], opts: { hangOn?: string; failOn?: string } = {}): CommandRunner {
  return async (argv, options) => {
    calls.push([...argv]);
    const ok: RunResult = { code: 0, signal: null, cancelled: false, tail: [] };
    if (argv[2] === 'import sys') return fs.existsSync(argv[0]) ? ok : { ...ok, code: 1 };
    if (argv[1] === '-m' && argv[2] === 'venv') {
      const dir = argv[3];
      fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'bin', 'python'), '#!/bin/sh\n', { mode: 0o755 });
      fs.writeFileSync(path.join(dir, 'pyvenv.cfg'), 'home = /usr/bin\n');
      return ok;
    }
    const what = argv.find((a) => /^(torch|numpy)/.test(a)) ?? '';
    options.onLine?.(`Collecting ${what}`);
    if (opts.failOn && what.startsWith(opts.failOn)) return { ...ok, code: 1, tail: ['ERROR: Could not find a version that satisfies the requirement'] };
    if (opts.hangOn && what.startsWith(opts.hangOn)) {
      await new Promise<void>((resolve) => options.signal?.addEventListener('abort', () => resolve(), { once: true }));
      return { ...ok, code: null, signal: 'SIGTERM', cancelled: true };
    }
    return ok;
  };
}

const GOOD: DoctorReport = { ok: true, executable: 'x', python: '3.11.2', torch: '2.13.0+cpu', numpy: '2.4.6', cuda: false, device: 'cpu', gpus: [], problems: [] };
const NO_TORCH: DoctorReport = { ...GOOD, ok: false, torch: null, problems: [{ kind: 'environment', message: 'PyTorch is not installed in this interpreter' }] };

describe('runtime/setupEnvironment: running it', () => {
  let root: string;
  let venvDir: string;
  beforeEach(() => {
    root = tempDir();
    venvDir = path.join(root, 'env');
  });
  afterEach(() => removeDir(root));

  const options = (calls: string[][], runnerOpts: Parameters<typeof fakeRunner>[1] = {}, doctor: () => Promise<DoctorReport> = async () => GOOD) => ({
    venvDir,
    basePython: '/usr/bin/python3',
    runtimeRoot: path.join(REPO_ROOT, 'runtime'),
    env: {},
    platform: 'linux' as const,
    gpus: [],
    runner: fakeRunner(calls, runnerOpts),
    doctor,
  });

  it('creates, installs, checks and marks ready; progress names each step; a second run is a no-op', async () => {
    const calls: string[][] = [];
    const progress: SetupProgress[] = [];
    const result = await setupEnvironment({ ...options(calls), pipArgs: ['--find-links', '/wheels'], onProgress: (p) => progress.push(p) });
    assert.equal(result.status, 'ready', result.message);
    assert.equal(result.python, path.join(venvDir, 'bin', 'python'));
    assert.ok(fs.existsSync(path.join(venvDir, READY_MARKER)));
    assert.ok(fs.existsSync(path.join(venvDir, OWNER_MARKER)));
    const marker = JSON.parse(fs.readFileSync(path.join(venvDir, READY_MARKER), 'utf8'));
    assert.equal(marker.torch, '2.13.0+cpu');
    assert.deepEqual([...new Set(progress.map((p) => p.step))], ['check', 'python', 'venv', 'torch', 'numpy', 'doctor', 'ready']);
    assert.ok(progress.some((p) => p.step === 'torch' && p.detail === 'Collecting torch>=2.1'));
    const pips = calls.filter((c) => c.includes('pip'));
    assert.equal(pips.length, 2);
    for (const c of pips) assert.deepEqual(c.slice(-2), ['--find-links', '/wheels']);

    const again: string[][] = [];
    const second = await setupEnvironment(options(again));
    assert.equal(second.status, 'already-ready');
    assert.deepEqual(again.map((c) => c.slice(1, 3)), [['-c', 'import sys']], 'only the Python-starts check; no venv, no pip');
  });

  it('Cancel during the torch install leaves no ready marker; the next run repairs the half-made env', async () => {
    const calls: string[][] = [];
    const abort = new AbortController();
    const pending = setupEnvironment({ ...options(calls, { hangOn: 'torch' }), signal: abort.signal });
    await waitFor(() => calls.some((c) => c.includes('pip')));
    abort.abort();
    const result = await pending;
    assert.equal(result.status, 'cancelled');
    assert.equal(result.step, 'torch');
    assert.ok(!fs.existsSync(path.join(venvDir, READY_MARKER)));

    const repair: string[][] = [];
    const again = await setupEnvironment(options(repair));
    assert.equal(again.status, 'ready');
    assert.ok(!repair.some((c) => c.includes('venv')), 'the venv is reused');
    assert.equal(repair.filter((c) => c.includes('pip')).length, 2);
    assert.ok(fs.existsSync(path.join(venvDir, READY_MARKER)));
  });

  it('a failed install names the step and the pipArgs to set, and leaves no ready marker', async () => {
    const result = await setupEnvironment({ ...options([], { failOn: 'torch' }), pipArgsHint: 'the setting spikeStudio.pipArgs' });
    assert.equal(result.status, 'failed');
    assert.equal(result.step, 'torch');
    assert.match(result.message ?? '', /Installing PyTorch failed \(exit 1: ERROR: Could not find a version/);
    assert.match(result.hint ?? '', /spikeStudio\.pipArgs/);
    assert.ok(!fs.existsSync(path.join(venvDir, READY_MARKER)));
  });

  it('doctor failing after the install is a failure, not a ready environment', async () => {
    const result = await setupEnvironment(options([], {}, async () => NO_TORCH));
    assert.equal(result.status, 'failed');
    assert.equal(result.step, 'doctor');
    assert.ok(!fs.existsSync(path.join(venvDir, READY_MARKER)));
  });

  it('a ready marker on an env that doctor rejects: the marker is dropped and the env repaired', async () => {
    await setupEnvironment(options([]));
    let first = true;
    const calls: string[][] = [];
    const result = await setupEnvironment(options(calls, {}, async () => (first ? ((first = false), NO_TORCH) : GOOD)));
    assert.equal(result.status, 'ready');
    assert.equal(calls.filter((c) => c.includes('pip')).length, 2);
  });

  it('a broken env of ours is recreated; one that is not ours, or a folder that is no venv, is left alone', async () => {
    await setupEnvironment(options([]));
    fs.rmSync(path.join(venvDir, 'bin', 'python'));
    const calls: string[][] = [];
    assert.equal((await setupEnvironment(options(calls))).status, 'ready');
    assert.ok(calls.some((c) => c.includes('venv')));

    fs.rmSync(path.join(venvDir, 'bin', 'python'));
    fs.rmSync(path.join(venvDir, OWNER_MARKER));
    const foreign = await setupEnvironment(options([]));
    assert.equal(foreign.status, 'failed');
    assert.match(foreign.hint ?? '', /not made by Spike Studio/);
    assert.ok(fs.existsSync(path.join(venvDir, 'pyvenv.cfg')));

    const other = path.join(root, 'project');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'notes.txt'), 'mine');
    const notVenv = await setupEnvironment({ ...options([]), venvDir: other });
    assert.equal(notVenv.status, 'failed');
    assert.match(notVenv.message ?? '', /not a Python virtual environment/);
    assert.ok(fs.existsSync(path.join(other, 'notes.txt')));
  });
});

describe('runtime/setupEnvironment: runCommand', function () {
  if (process.platform === 'win32') return;

  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  it('streams lines and reports the exit code', async () => {
    const lines: string[] = [];
    const result = await runCommand(['sh', '-c', 'echo one; echo two >&2; exit 3'], { onLine: (l) => lines.push(l) });
    assert.equal(result.code, 3);
    assert.deepEqual(lines.sort(), ['one', 'two']);
  });

  it('an abort ends the whole process group (pip and what it started)', async () => {
    const lines: string[] = [];
    const abort = new AbortController();
    const pending = runCommand(['sh', '-c', 'sleep 60 & echo child $!; sleep 60'], { signal: abort.signal, onLine: (l) => lines.push(l) });
    await waitFor(() => lines.some((l) => l.startsWith('child ')));
    const child = Number(lines.find((l) => l.startsWith('child '))?.split(' ')[1]);
    assert.ok(alive(child));
    abort.abort();
    const result = await pending;
    assert.equal(result.cancelled, true);
    await waitFor(() => !alive(child) || /State:\s+Z/.test(readStatus(child)), 5000);
  });

  it('a missing executable is a spawn error, not a throw', async () => {
    const result = await runCommand(['/no/such/python', '-V'], {});
    assert.ok(result.spawnError);
  });
});

function readStatus(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 'State: Z';
  }
}

describe('cli: spike-studio setup (a real venv; pip offline)', function () {
  this.timeout(180_000);
  let root: string;
  before(function () {
    if (process.platform === 'win32' || spawnSync('python3', ['-c', 'import venv, ensurepip']).status !== 0) this.skip();
  });
  beforeEach(() => (root = tempDir()));
  afterEach(() => removeDir(root));

  it('creates the venv, runs pip with the --pip-arg values, marks it ready; the second run is a no-op', async () => {
    // a runtime whose requirements pip already has in a new venv (so no network), and whose doctor says ok
    const runtimeRoot = path.join(root, 'runtime');
    fs.cpSync(path.join(REPO_ROOT, 'test/fixtures/fake-runtime'), runtimeRoot, { recursive: true });
    // torch → SPIKE_STUDIO_TORCH_SPEC=pip (already in a new venv); numpy with a marker that never holds (pip skips it)
    fs.writeFileSync(path.join(runtimeRoot, 'pyproject.toml'), `[project]\nname = "fake"\ndependencies = ["torch>=2.1", "numpy; python_version < '3'"]\n`);
    const run = async (argv: string[]) => {
      let err = '';
      let out = '';
      const stderr = new PassThrough();
      const stdout = new PassThrough();
      stderr.on('data', (c: Buffer) => (err += c.toString()));
      stdout.on('data', (c: Buffer) => (out += c.toString()));
      const env = { ...process.env, FAKE_MODE: 'ok', SPIKE_STUDIO_TORCH_SPEC: 'pip', SPIKE_STUDIO_TORCH_INDEX: '' };
      const code = await runCli(['setup', ...argv], { stdout, stderr, cwd: root, env, runtimeRoot });
      return { code, err, out };
    };
    const first = await run(['--python', 'python3', '--pip-arg', '--no-index', '--verbose']);
    assert.equal(first.code, 0, first.err);
    const venv = path.join(root, '.venv');
    assert.equal(first.out.trim(), path.join(venv, 'bin', 'python'));
    assert.match(first.err, /-m pip install .* pip --no-index/);
    assert.match(first.err, /Requirement already satisfied: pip/);
    assert.match(first.err, /spike-studio train uses \.\/\.venv/);
    assert.ok(fs.existsSync(path.join(venv, READY_MARKER)));
    const second = await run(['--python', 'python3', '--pip-arg', '--no-index', '--verbose']);
    assert.equal(second.code, 0, second.err);
    assert.match(second.err, /already set up/);
    assert.doesNotMatch(second.err, /pip install/);
  });

  it('refuses a folder that is not a venv, with a one-line error', async () => {
    fs.writeFileSync(path.join(root, 'notes.txt'), 'x');
    let err = '';
    const stderr = new PassThrough();
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await runCli(['setup', '--dir', '.'], { stdout: new PassThrough(), stderr, cwd: root, env: {}, runtimeRoot: path.join(REPO_ROOT, 'runtime') });
    assert.equal(code, 1);
    assert.match(err, /error: .* is not a Python virtual environment/);
  });
});

describe('runtime/setupEnvironment: an unfinished environment is never used', () => {
  it('checkPython refuses an env of ours without the ready marker, and asks doctor otherwise', async () => {
    const root = tempDir();
    try {
      const venvDir = path.join(root, 'env');
      fs.mkdirSync(path.join(venvDir, 'bin'), { recursive: true });
      fs.writeFileSync(path.join(venvDir, OWNER_MARKER), '');
      const python = path.join(venvDir, 'bin', 'python');
      const report = await checkPython(python, path.join(REPO_ROOT, 'test/fixtures/fake-runtime'));
      assert.equal(report.ok, false);
      assert.equal(report.problems[0].kind, 'environment-unfinished');
      assert.match(report.problems[0].hint ?? '', /Set Up Python Environment/);
      assert.equal(unfinishedEnvironmentProblem('/usr/bin/python3'), undefined);
      fs.writeFileSync(path.join(venvDir, READY_MARKER), '{}');
      assert.equal(unfinishedEnvironmentProblem(python), undefined);
    } finally {
      removeDir(root);
    }
  });
});
