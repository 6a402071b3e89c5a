// Which Python to run (contracts §4).
//  extension: setting spikeStudio.pythonPath → the Python extension's interpreter → python3
//  CLI:       --python → $SPIKE_STUDIO_PYTHON → ./.venv/bin/python → python3

import * as fs from 'node:fs';
import * as path from 'node:path';

export type PythonSource = 'setting' | 'flag' | 'python-extension' | 'env' | 'venv' | 'default';

export interface FoundPython {
  path: string;
  source: PythonSource;
}

export interface FindPythonOptions {
  /** spikeStudio.pythonPath (extension) or --python (CLI) */
  configured?: string | null;
  /** the Python extension's selected interpreter, if any */
  pythonExtension?: string | null;
  /** workspace folder; relative configured paths resolve against it, and the CLI looks for .venv in it */
  cwd: string;
  /** 'extension' (default) or 'cli': the CLI also consults the environment and ./.venv */
  mode?: 'extension' | 'cli';
  env?: NodeJS.ProcessEnv;
  /** for tests */
  exists?: (file: string) => boolean;
  platform?: NodeJS.Platform;
}

export const ENV_PYTHON = 'SPIKE_STUDIO_PYTHON';

function nonEmpty(value: string | null | undefined): value is string {
  return typeof value === 'string' && value.trim() !== '';
}

/** Expands ~ and resolves relative paths ("./venv/bin/python"), leaving bare command names ("python3") alone. */
export function normalizePythonPath(value: string, cwd: string): string {
  const trimmed = value.trim();
  if (trimmed.startsWith('~/')) return path.join(process.env.HOME ?? '~', trimmed.slice(2));
  if (trimmed.includes('/') || trimmed.includes('\\')) return path.resolve(cwd, trimmed);
  return trimmed;
}

function venvPython(cwd: string, platform: NodeJS.Platform): string {
  return platform === 'win32' ? path.join(cwd, '.venv', 'Scripts', 'python.exe') : path.join(cwd, '.venv', 'bin', 'python');
}

export function findPython(options: FindPythonOptions): FoundPython {
  const mode = options.mode ?? 'extension';
  const env = options.env ?? process.env;
  const exists = options.exists ?? fs.existsSync;
  const platform = options.platform ?? process.platform;
  if (nonEmpty(options.configured)) {
    return { path: normalizePythonPath(options.configured, options.cwd), source: mode === 'cli' ? 'flag' : 'setting' };
  }
  if (mode === 'extension' && nonEmpty(options.pythonExtension)) {
    return { path: options.pythonExtension.trim(), source: 'python-extension' };
  }
  if (mode === 'cli' && nonEmpty(env[ENV_PYTHON])) {
    return { path: normalizePythonPath(env[ENV_PYTHON] as string, options.cwd), source: 'env' };
  }
  if (mode === 'cli' && exists(venvPython(options.cwd, platform))) {
    return { path: venvPython(options.cwd, platform), source: 'venv' };
  }
  return { path: platform === 'win32' ? 'python' : 'python3', source: 'default' };
}

/** Environment for a runtime child process: PYTHONPATH=<runtimeRoot> prepended, PYTHONUNBUFFERED=1. */
export function runtimeEnv(runtimeRoot: string, base: NodeJS.ProcessEnv = process.env, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const existing = base.PYTHONPATH;
  const pythonPath = existing ? `${runtimeRoot}${path.delimiter}${existing}` : runtimeRoot;
  return { ...base, ...extra, PYTHONPATH: pythonPath, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8' };
}
