import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PresetTable } from '../../src/core/config';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
export const FAKE_RUNTIME = path.join(FIXTURES, 'fake-runtime');

export const FIXTURE_PRESETS: PresetTable = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'presets.json'), 'utf8'));

export function tempDir(prefix = 'spike-studio-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export function readFixture(relative: string): string {
  return fs.readFileSync(path.join(FIXTURES, relative), 'utf8');
}

export function hasPython(): boolean {
  return require('node:child_process').spawnSync('python3', ['--version']).status === 0;
}

export function waitFor(predicate: () => boolean, timeoutMs = 5000, stepMs = 20): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error('waitFor: timed out'));
      setTimeout(tick, stepMs);
    };
    tick();
  });
}

/**
 * Tolerance for accumulated float32 outputs (logits, analog attention maps) compared across runtimes: the rule of
 * runtime/spikestudio/tolerance.py, K · eps · sqrt(depth) · max|ref|, depth = the terms summed on the way to the output
 * (accumulation_depth there: every Conv/Linear fan-in plus the time steps). Never a fixed 1e-5.
 */
export const FLOAT_TOL_K = 32;
export function floatTol(ref: ArrayLike<number>, depth: number, k = FLOAT_TOL_K): number {
  let scale = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]));
  return k * 2 ** -23 * Math.sqrt(Math.max(1, depth)) * scale;
}
