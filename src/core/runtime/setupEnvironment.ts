// "Set Up Python Environment" (the extension's command and `spike-studio setup`): a venv with PyTorch built for this
// machine (the CUDA build that fits the NVIDIA driver, else the CPU build) and numpy, checked by `doctor`.
//
// The environment is marked ready (READY_MARKER) only after doctor passed, and the marker is removed before any
// step changes the environment, so a cancelled or failed run never leaves something that looks usable. A run on a
// ready environment only re-runs doctor (a fast no-op); a run on a half-made one repairs it (pip skips what is
// already installed) or, when its Python no longer starts, recreates it (only when Spike Studio created it).

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chooseTorchBuild, detectNvidiaGpus, type NvidiaGpu, type TorchBuildChoice } from './cuda';
import { runDoctor, type DoctorProblem, type DoctorReport, type RunDoctorOptions } from './doctor';

/** Written last, after doctor passed: its presence is the only thing that marks the environment usable. */
export const READY_MARKER = '.spike-studio-ready.json';
/** Written right after `python -m venv`: Spike Studio made this folder (it may delete and recreate it). */
export const OWNER_MARKER = '.spike-studio-env';
/** The torch requirement (e.g. `torch==2.13.0`); default: the runtime's own (runtime/pyproject.toml). */
export const TORCH_SPEC_ENV = 'SPIKE_STUDIO_TORCH_SPEC';
/** The index torch is installed from; set but empty: pip's own index/configuration. Default: chosen per machine. */
export const TORCH_INDEX_ENV = 'SPIKE_STUDIO_TORCH_INDEX';

export interface RuntimeRequirements {
  torch: string;
  numpy: string;
}

/** What runtime/pyproject.toml says when it cannot be read (kept equal to it by a unit test). */
export const FALLBACK_REQUIREMENTS: RuntimeRequirements = { torch: 'torch>=2.1', numpy: 'numpy' };

/** The runtime's requirements from `dependencies = [...]` of <runtimeRoot>/pyproject.toml: the one place the torch version lives. */
export function readRuntimeRequirements(runtimeRoot: string): RuntimeRequirements {
  let text: string;
  try {
    text = fs.readFileSync(path.join(runtimeRoot, 'pyproject.toml'), 'utf8');
  } catch {
    return { ...FALLBACK_REQUIREMENTS };
  }
  const deps = /^dependencies\s*=\s*\[([^\]]*)\]/m.exec(text)?.[1] ?? '';
  const specs = [...deps.matchAll(/"([^"]+)"/g)].map((m) => m[1].trim());
  const find = (name: string) => specs.find((s) => new RegExp(`^${name}(\\W|$)`, 'i').test(s));
  return { torch: find('torch') ?? FALLBACK_REQUIREMENTS.torch, numpy: find('numpy') ?? FALLBACK_REQUIREMENTS.numpy };
}

export function venvPython(venvDir: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? path.join(venvDir, 'Scripts', 'python.exe') : path.join(venvDir, 'bin', 'python');
}

/**
 * For an interpreter inside an environment Spike Studio made: undefined when it is marked ready, else the problem
 * (its setup was cancelled or failed, or a repair is under way). Interpreters elsewhere: always undefined.
 */
export function unfinishedEnvironmentProblem(python: string): DoctorProblem | undefined {
  const venvDir = path.dirname(path.dirname(path.resolve(python)));
  if (!fs.existsSync(path.join(venvDir, OWNER_MARKER)) || fs.existsSync(path.join(venvDir, READY_MARKER))) return undefined;
  return {
    kind: 'environment-unfinished',
    message: `The Python environment ${venvDir} is not finished (its setup was cancelled or failed), so it is not used.`,
    hint: 'Run Set Up Python Environment (spike-studio setup) again: it continues where it stopped.',
  };
}

/** doctor, except for an environment Spike Studio made that is not marked ready (a cancelled or failed setup): never used. */
export async function checkPython(python: string, runtimeRoot: string, options: RunDoctorOptions = {}): Promise<DoctorReport> {
  const unfinished = unfinishedEnvironmentProblem(python);
  if (unfinished) return { ok: false, executable: python, python: null, torch: null, numpy: null, cuda: false, device: null, gpus: [], problems: [unfinished] };
  return runDoctor(python, runtimeRoot, options);
}

/** A doctor report that the training can start with (a missing embedded dataset or a broken CUDA query do not stop it). */
export function isInterpreterUsable(report: DoctorReport): boolean {
  if (report.torch === null || report.numpy === null) return false;
  return !report.problems.some((p) => p.kind !== 'data' && !/CUDA query failed/i.test(p.message));
}

// ------------------------------------------------------------------------------------------ running commands

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  cancelled: boolean;
  /** the spawn error (ENOENT, …), if the command could not start */
  spawnError?: string;
  /** the last lines of output, for error messages */
  tail: string[];
}

export interface RunOptions {
  signal?: AbortSignal;
  onLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export type CommandRunner = (argv: readonly string[], options: RunOptions) => Promise<RunResult>;

const TAIL_LINES = 20;
const KILL_GRACE_MS = 3_000;

/**
 * Runs argv in its own process group; every output line goes to onLine. An abort ends the whole group (pip and
 * anything it started): SIGTERM, then SIGKILL after a grace period.
 */
export const runCommand: CommandRunner = (argv, options) =>
  new Promise((resolve) => {
    const tail: string[] = [];
    const line = (text: string) => {
      tail.push(text);
      if (tail.length > TAIL_LINES) tail.shift();
      options.onLine?.(text);
    };
    if (options.signal?.aborted) {
      resolve({ code: null, signal: null, cancelled: true, tail });
      return;
    }
    const posix = process.platform !== 'win32';
    const child = spawn(argv[0], argv.slice(1), { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: posix });
    let cancelled = false;
    let spawnError: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (posix && child.pid !== undefined) process.kill(-child.pid, sig);
        else child.kill(sig);
      } catch {
        // already gone
      }
    };
    const onAbort = () => {
      cancelled = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (partial + chunk).split(/\r?\n|\r/);
        partial = lines.pop() ?? '';
        for (const l of lines) if (l.trim()) line(l);
      });
      stream.on('end', () => partial.trim() && line(partial));
    }
    child.on('error', (error) => {
      spawnError = error.message;
    });
    child.on('close', (code, sig) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      // pip may have left children in the group (a build backend): end them too
      if (cancelled) killGroup('SIGKILL');
      resolve({ code, signal: sig, cancelled, spawnError, tail });
    });
  });

// ------------------------------------------------------------------------------------------ state and plan

export type EnvState =
  /** nothing there (or an empty folder) */
  | { kind: 'missing' }
  /** marked ready */
  | { kind: 'ready' }
  /** a venv whose Python starts, not (or no longer) marked ready: a cancelled or failed run, or the user's own venv */
  | { kind: 'partial' }
  /** a venv whose Python does not start; `ours`: Spike Studio created it and may recreate it */
  | { kind: 'broken'; ours: boolean }
  /** a folder with other things in it */
  | { kind: 'not-a-venv' };

export async function inspectEnvironment(venvDir: string, runner: CommandRunner, platform: NodeJS.Platform = process.platform, env?: NodeJS.ProcessEnv): Promise<EnvState> {
  let entries: string[];
  try {
    entries = fs.readdirSync(venvDir);
  } catch {
    return { kind: 'missing' };
  }
  if (entries.length === 0) return { kind: 'missing' };
  const ours = entries.includes(OWNER_MARKER);
  if (!entries.includes('pyvenv.cfg') && !ours) return { kind: 'not-a-venv' };
  const python = venvPython(venvDir, platform);
  const started = fs.existsSync(python) ? await runner([python, '-c', 'import sys'], { env }) : null;
  if (!started || started.code !== 0) return { kind: 'broken', ours };
  return entries.includes(READY_MARKER) ? { kind: 'ready' } : { kind: 'partial' };
}

export type SetupStepId = 'check' | 'remove' | 'python' | 'venv' | 'torch' | 'numpy' | 'doctor' | 'ready';

export interface SetupStep {
  id: SetupStepId;
  /** what the progress line says */
  title: string;
  /** the command, for steps that run one */
  argv?: string[];
}

export interface SetupPlan {
  venvDir: string;
  /** the environment's interpreter (what spikeStudio.pythonPath is set to) */
  python: string;
  torchSpec: string;
  /** torch's index; null: pip's own */
  torchIndexUrl: string | null;
  build: TorchBuildChoice;
  pipArgs: string[];
  steps: SetupStep[];
}

export interface PlanInput {
  state: EnvState;
  venvDir: string;
  /** the interpreter that creates the venv */
  basePython: string;
  requirements: RuntimeRequirements;
  build: TorchBuildChoice;
  /** extra pip arguments for every install (spikeStudio.pipArgs / --pip-arg) */
  pipArgs?: readonly string[];
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
}

const PIP_INSTALL = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--progress-bar', 'off'];

/** pipArgs that choose the index themselves: then torch's own index is not added. */
function choosesIndex(pipArgs: readonly string[]): boolean {
  return pipArgs.some((a) => a === '-i' || a === '--no-index' || a === '--index-url' || a.startsWith('--index-url=') || (a.startsWith('-i') && a.length > 2));
}

/** torch's index: the user's pipArgs' own index wins, then $SPIKE_STUDIO_TORCH_INDEX, then the machine's build. */
export function torchIndexFor(build: TorchBuildChoice, pipArgs: readonly string[], env: NodeJS.ProcessEnv = process.env): string | null {
  if (choosesIndex(pipArgs)) return null;
  const fromEnv = env[TORCH_INDEX_ENV];
  if (fromEnv !== undefined) return fromEnv.trim() || null;
  return build.indexUrl;
}

const BUILD_NAMES: Record<string, string> = { cpu: 'CPU build', default: 'PyPI build' };

export function planSetup(input: PlanInput): SetupPlan {
  const platform = input.platform ?? process.platform;
  const env = input.env ?? process.env;
  const pipArgs = [...(input.pipArgs ?? [])];
  const python = venvPython(input.venvDir, platform);
  const torchSpec = env[TORCH_SPEC_ENV]?.trim() || input.requirements.torch;
  const torchIndexUrl = torchIndexFor(input.build, pipArgs, env);
  const buildName = BUILD_NAMES[input.build.build] ?? `CUDA build ${input.build.build}`;
  const steps: SetupStep[] = [];
  const { state } = input;
  if (state.kind === 'ready') {
    steps.push({ id: 'doctor', title: 'Checking the environment (doctor)' });
  } else {
    if (state.kind === 'broken' && state.ours) steps.push({ id: 'remove', title: 'Removing the broken environment' });
    if (state.kind === 'missing' || (state.kind === 'broken' && state.ours)) {
      steps.push({ id: 'python', title: `Checking ${input.basePython}`, argv: [input.basePython, '-c', BASE_PYTHON_CHECK] });
      steps.push({ id: 'venv', title: 'Creating the virtual environment', argv: [input.basePython, '-m', 'venv', input.venvDir] });
    }
    steps.push({
      id: 'torch',
      title: `Installing PyTorch (${buildName})`,
      argv: [python, ...PIP_INSTALL, torchSpec, ...(torchIndexUrl ? ['--index-url', torchIndexUrl] : []), ...pipArgs],
    });
    steps.push({ id: 'numpy', title: 'Installing numpy', argv: [python, ...PIP_INSTALL, input.requirements.numpy, ...pipArgs] });
    steps.push({ id: 'doctor', title: 'Checking the environment (doctor)' });
    steps.push({ id: 'ready', title: 'Marking the environment ready' });
  }
  return { venvDir: input.venvDir, python, torchSpec, torchIndexUrl, build: input.build, pipArgs, steps };
}

/** Exit 3: Python too old; 4: no venv/ensurepip (Debian's python3-venv). */
const BASE_PYTHON_CHECK = [
  'import sys',
  'sys.exit(3) if sys.version_info < (3, 10) else None',
  'try:\n import venv, ensurepip\nexcept ImportError:\n sys.exit(4)',
].join('\n');

// ------------------------------------------------------------------------------------------ running the plan

export interface SetupProgress {
  step: SetupStepId;
  /** 1-based position among the plan's steps */
  index: number;
  total: number;
  title: string;
  /** the latest interesting pip line (Collecting / Downloading / Installing …) */
  detail?: string;
}

export interface SetupOptions {
  venvDir: string;
  /** the interpreter that creates the venv (the system python3, or the Python extension's) */
  basePython: string;
  /** folder of the `spikestudio` package (doctor runs from it; its pyproject.toml names the torch version) */
  runtimeRoot: string;
  pipArgs?: readonly string[];
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  signal?: AbortSignal;
  onProgress?: (progress: SetupProgress) => void;
  /** every line of pip's (and venv's) output */
  onOutput?: (line: string) => void;
  /** where a mirror, proxy or offline wheels are configured, for error hints ("the setting spikeStudio.pipArgs") */
  pipArgsHint?: string;
  /** for tests: the GPUs (default: nvidia-smi), the command runner, doctor */
  gpus?: readonly NvidiaGpu[];
  runner?: CommandRunner;
  doctor?: (python: string) => Promise<DoctorReport>;
}

export type SetupStatus = 'ready' | 'already-ready' | 'cancelled' | 'failed';

export interface SetupResult {
  status: SetupStatus;
  /** the environment's interpreter */
  python: string;
  venvDir: string;
  plan?: SetupPlan;
  report?: DoctorReport;
  /** failed: one line saying what went wrong, and what to do */
  message?: string;
  hint?: string;
  /** the step that failed or was cancelled */
  step?: SetupStepId;
  durationMs: number;
}

const PIP_DETAIL = /^\s*(Collecting|Downloading|Using cached|Processing|Looking in|Installing collected packages|Successfully installed)\b/;

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

function describeExit(result: RunResult): string {
  if (result.spawnError) return result.spawnError;
  const last = [...result.tail].reverse().find((l) => /error|could not|no matching|failed|denied|refused/i.test(l)) ?? result.tail[result.tail.length - 1];
  return `exit ${result.code ?? result.signal}${last ? `: ${last.trim()}` : ''}`;
}

export async function setupEnvironment(options: SetupOptions): Promise<SetupResult> {
  const started = Date.now();
  const platform = options.platform ?? process.platform;
  const env = options.env ?? process.env;
  const runner = options.runner ?? runCommand;
  const doctor = options.doctor ?? ((python: string) => runDoctor(python, options.runtimeRoot, { env }));
  const venvDir = path.resolve(options.venvDir);
  const python = venvPython(venvDir, platform);
  const pipArgsHint = options.pipArgsHint ?? 'extra pip arguments';
  const done = (status: SetupStatus, extra: Partial<SetupResult> = {}): SetupResult => ({ status, python, venvDir, durationMs: Date.now() - started, ...extra });
  const out = (line: string) => options.onOutput?.(line);

  options.onProgress?.({ step: 'check', index: 0, total: 0, title: 'Checking the environment' });
  let state = await inspectEnvironment(venvDir, runner, platform, env);
  out(`environment ${venvDir}: ${state.kind}${state.kind === 'broken' ? (state.ours ? ' (made by Spike Studio: recreating it)' : '') : ''}`);
  if (state.kind === 'not-a-venv') {
    return done('failed', { step: 'check', message: `${venvDir} exists and is not a Python virtual environment.`, hint: 'Remove it, or choose another place for the environment.' });
  }
  if (state.kind === 'broken' && !state.ours) {
    return done('failed', {
      step: 'check',
      message: `${venvDir} is a virtual environment whose Python does not start (${python}).`,
      hint: 'It was not made by Spike Studio, so it is left alone: remove it (or recreate it with python3 -m venv) and run the setup again.',
    });
  }
  if (state.kind === 'ready') {
    options.onProgress?.({ step: 'doctor', index: 1, total: 1, title: 'Checking the environment (doctor)' });
    const report = await doctor(python);
    if (isInterpreterUsable(report)) return done('already-ready', { report });
    out(`the environment was marked ready but doctor finds: ${report.problems.map((p) => p.message).join('; ')}; repairing it`);
    state = { kind: 'partial' };
  }
  if (options.signal?.aborted) return done('cancelled', { step: 'check' });

  const gpus = options.gpus ?? (await detectNvidiaGpus());
  const build = chooseTorchBuild(gpus, platform);
  const plan = planSetup({ state, venvDir, basePython: options.basePython, requirements: readRuntimeRequirements(options.runtimeRoot), build, pipArgs: options.pipArgs, env, platform });
  out(`torch: ${plan.torchSpec} from ${plan.torchIndexUrl ?? "pip's configured index"} (${build.reason})`);
  // From here on the environment changes: it is not ready until the last step says so.
  fs.rmSync(path.join(venvDir, READY_MARKER), { force: true });

  let report: DoctorReport | undefined;
  const total = plan.steps.length;
  for (const [i, step] of plan.steps.entries()) {
    if (options.signal?.aborted) return done('cancelled', { plan, step: step.id });
    const progress = (detail?: string) => options.onProgress?.({ step: step.id, index: i + 1, total, title: step.title, ...(detail ? { detail } : {}) });
    progress();
    out(`── ${step.title}${step.argv ? `: ${step.argv.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}` : ''}`);
    if (step.id === 'remove') {
      fs.rmSync(venvDir, { recursive: true, force: true });
      continue;
    }
    if (step.id === 'doctor') {
      report = await doctor(python);
      out(`doctor: python ${report.python ?? '?'}, torch ${report.torch ?? 'missing'}, numpy ${report.numpy ?? 'missing'}, device ${report.device ?? '?'}`);
      if (options.signal?.aborted) return done('cancelled', { plan, step: step.id, report });
      if (!isInterpreterUsable(report)) {
        const first = report.problems.find((p) => p.kind !== 'data') ?? report.problems[0];
        return done('failed', { plan, step: step.id, report, message: `The new environment cannot train: ${first?.message ?? 'doctor failed'}`, hint: first?.hint });
      }
      continue;
    }
    if (step.id === 'ready') {
      const marker = { version: 1, python, torch: report?.torch ?? null, numpy: report?.numpy ?? null, build: build.build, torchSpec: plan.torchSpec, torchIndexUrl: plan.torchIndexUrl, readyAt: new Date().toISOString() };
      writeAtomic(path.join(venvDir, READY_MARKER), JSON.stringify(marker, null, 2) + '\n');
      continue;
    }
    const argv = step.argv ?? [];
    const result = await runner(argv, {
      signal: options.signal,
      env: { ...env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONUNBUFFERED: '1' },
      onLine: (line) => {
        out(line);
        if (PIP_DETAIL.test(line)) progress(line.trim().slice(0, 100));
      },
    });
    if (result.cancelled || options.signal?.aborted) return done('cancelled', { plan, step: step.id });
    if (step.id === 'venv' && result.code === 0) writeAtomic(path.join(venvDir, OWNER_MARKER), 'Made by Spike Studio (Set Up Python Environment); safe to delete.\n');
    if (result.code === 0) continue;
    return done('failed', { plan, step: step.id, ...failureText(step, argv, result, pipArgsHint, platform) });
  }
  return done('ready', { plan, report });
}

function failureText(step: SetupStep, argv: readonly string[], result: RunResult, pipArgsHint: string, platform: NodeJS.Platform): { message: string; hint: string } {
  if (step.id === 'python') {
    if (result.spawnError) return { message: `Python was not found: ${argv[0]} (${result.spawnError}).`, hint: 'Install Python 3.10 or newer (python3), or select one with the Python extension, and run the setup again.' };
    if (result.code === 3) return { message: `${argv[0]} is too old: Spike Studio needs Python 3.10 or newer.`, hint: 'Install Python 3.10 or newer, or select one with the Python extension.' };
    if (result.code === 4) {
      return {
        message: `${argv[0]} cannot create virtual environments (the venv/ensurepip module is missing).`,
        hint: platform === 'linux' ? 'On Debian/Ubuntu: sudo apt install python3-venv — then run the setup again.' : 'Install a full Python 3.10+ (with venv), then run the setup again.',
      };
    }
  }
  if (step.id === 'venv') return { message: `Creating the virtual environment failed (${describeExit(result)}).`, hint: 'The full output is in the log.' };
  const what = step.id === 'torch' ? 'PyTorch' : 'numpy';
  return {
    message: `Installing ${what} failed (${describeExit(result)}).`,
    hint: `The full pip output is in the log. Behind a proxy, with a mirror or offline wheels: set ${pipArgsHint} (e.g. --proxy URL, --index-url URL, --find-links DIR) and run the setup again; what was installed so far is reused.`,
  };
}
