// `python -m spikestudio doctor`: is this Python able to train? Always answers with a DoctorReport.

import { spawn } from 'node:child_process';
import type { GpuInfo } from '../protocol';
import { runtimeEnv } from './python';

export interface DoctorProblem {
  kind: string;
  message: string;
  /** the exact command or step that fixes it */
  hint?: string;
}

export interface DoctorReport {
  ok: boolean;
  /** the interpreter that was asked */
  executable: string;
  python: string | null;
  torch: string | null;
  numpy: string | null;
  cuda: boolean;
  device: string | null;
  gpus: GpuInfo[];
  problems: DoctorProblem[];
}

export interface RunDoctorOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

interface ProcessOutput {
  stdout: string;
  stderr: string;
  code: number | null;
  spawnError: NodeJS.ErrnoException | null;
  timedOut: boolean;
}

function quoteForShell(arg: string): string {
  return /^[A-Za-z0-9_./:@=+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function pipInstallCommand(python: string, packages = 'torch'): string {
  return `${quoteForShell(python)} -m pip install ${packages}`;
}

function emptyReport(executable: string, problems: DoctorProblem[]): DoctorReport {
  return { ok: false, executable, python: null, torch: null, numpy: null, cuda: false, device: null, gpus: [], problems };
}

function runCaptured(command: string, args: string[], options: RunDoctorOptions & { env: NodeJS.ProcessEnv }): Promise<ProcessOutput> {
  return new Promise((resolve) => {
    const out: ProcessOutput = { stdout: '', stderr: '', code: null, spawnError: null, timedOut: false };
    let child;
    try {
      child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      out.spawnError = error as NodeJS.ErrnoException;
      resolve(out);
      return;
    }
    const timer = setTimeout(() => {
      out.timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out.stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out.stderr += chunk));
    child.on('error', (error) => {
      out.spawnError = error as NodeJS.ErrnoException;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      out.code = code;
      resolve(out);
    });
  });
}

function lastJsonObject(stdout: string): Record<string, unknown> | null {
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  for (const line of lines.reverse()) {
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // keep looking
    }
  }
  try {
    const whole: unknown = JSON.parse(stdout);
    return typeof whole === 'object' && whole !== null ? (whole as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function normalizeProblems(raw: unknown, python: string): DoctorProblem[] {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((p): p is Record<string, unknown> => typeof p === 'object' && p !== null)
    .map((p) => {
      const problem: DoctorProblem = { kind: String(p.kind ?? 'problem'), message: String(p.message ?? '') };
      if (typeof p.hint === 'string') problem.hint = p.hint;
      return problem;
    })
    .map((p) => (isTorchMissing(p) ? { ...p, hint: pipInstallCommand(python) } : p));
}

function isTorchMissing(problem: DoctorProblem): boolean {
  return /torch/i.test(problem.kind + ' ' + problem.message) && /(missing|not installed|no module|not found)/i.test(problem.kind + ' ' + problem.message);
}

/** Turns doctor's JSON into a report; missing torch always gets the exact pip command for this python. */
export function reportFromDoctorJson(json: Record<string, unknown>, python: string): DoctorReport {
  const report: DoctorReport = {
    ok: json.ok === true,
    executable: python,
    python: stringOrNull(json.python),
    torch: stringOrNull(json.torch),
    numpy: stringOrNull(json.numpy),
    cuda: json.cuda === true,
    device: stringOrNull(json.device),
    gpus: Array.isArray(json.gpus) ? (json.gpus as GpuInfo[]) : [],
    problems: normalizeProblems(json.problems, python),
  };
  if (report.torch === null && !report.problems.some(isTorchMissing)) {
    report.problems.push({ kind: 'torch-missing', message: `PyTorch is not installed for ${python}.`, hint: pipInstallCommand(python) });
  }
  if (report.problems.length > 0 && report.torch === null) report.ok = false;
  return report;
}

function pythonMissingReport(python: string, error: NodeJS.ErrnoException): DoctorReport {
  const notFound = error.code === 'ENOENT';
  return emptyReport(python, [
    {
      kind: 'python-missing',
      message: notFound ? `Python was not found: "${python}" is not an executable on this machine.` : `Could not start "${python}": ${error.message}`,
      hint: 'Install Python 3.10 or newer, or point Spike Studio at one: the setting spikeStudio.pythonPath, or `spike-studio train --python /path/to/python` (or SPIKE_STUDIO_PYTHON=/path/to/python).',
    },
  ]);
}

function unreadableReport(python: string, runtimeRoot: string, out: ProcessOutput): DoctorReport {
  const tail = out.stderr.trim().split('\n').slice(-6).join('\n');
  const why = out.timedOut ? 'did not answer in time' : `exited with code ${out.code} without a JSON report`;
  return emptyReport(python, [
    {
      kind: 'doctor-failed',
      message: `"${python} -m spikestudio doctor" ${why}.${tail ? `\n${tail}` : ''}`,
      hint: `Run it yourself to see why: PYTHONPATH=${quoteForShell(runtimeRoot)} ${quoteForShell(python)} -m spikestudio doctor`,
    },
  ]);
}

/** Runs `python -m spikestudio doctor` with PYTHONPATH=<runtimeRoot> and parses its JSON report. */
export async function runDoctor(python: string, runtimeRoot: string, options: RunDoctorOptions = {}): Promise<DoctorReport> {
  const env = runtimeEnv(runtimeRoot, options.env ?? process.env);
  const out = await runCaptured(python, ['-m', 'spikestudio', 'doctor'], { ...options, env });
  if (out.spawnError) return pythonMissingReport(python, out.spawnError);
  const json = lastJsonObject(out.stdout);
  if (!json) return unreadableReport(python, runtimeRoot, out);
  return reportFromDoctorJson(json, python);
}

/** One line per problem: "message (fix: hint)". */
export function describeDoctorProblems(report: DoctorReport): string[] {
  return report.problems.map((p) => (p.hint ? `${p.message}\n  fix: ${p.hint}` : p.message));
}
