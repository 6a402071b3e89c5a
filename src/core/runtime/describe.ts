// Describing the researcher's own model (model.arch custom / model.plugins) by running it: `python -m spikestudio
// describe RESOLVED.json --json-errors` in a background process. Results are cached by the hashes of the model
// section and of the model's files; a newer request for the same config cancels (kills) the older one; a describe
// that takes longer than the timeout is killed and reported. Nothing here blocks: callers get a promise.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DescribedPreset } from '../config/pluginPresets';
import type { GraphModel, LayerInfo } from '../protocol';
import { runtimeEnv } from './python';

/** A layer of the runtime's describe: the `model` event's LayerInfo (events.schema.json). */
export type DescribedLayer = LayerInfo;

export interface EntryInfo {
  name: string;
  signature: string;
  doc: string;
  params: Array<{ name: string; required: boolean; default?: string; annotation?: string }>;
  file: string | null;
  line: number | null;
}

export interface DescribedModel extends GraphModel {
  layers: DescribedLayer[];
  warnings?: string[];
  entry?: EntryInfo;
}

export interface DescribeError {
  kind: string;
  message: string;
  hint?: string;
  /** dotted config key (model.args.x, model.source, …) */
  key?: string;
  /** the researcher's file and 1-based line (user_code errors) */
  file?: string;
  line?: number;
  stage?: string;
}

/** `presets`: those registered by the model section's plugin files (also when the describe itself failed). */
export type DescribeResult = ({ ok: true; model: DescribedModel } | { ok: false; error: DescribeError }) & { presets?: Record<string, DescribedPreset> };

export interface DescribeRequest {
  python: string;
  runtimeRoot: string;
  /** the resolved config (JSON-serialisable; model.source / model.plugins absolute) */
  resolved: { model: Record<string, unknown>; source?: string | null };
  /** the config file: one request in flight per config */
  configPath: string;
  /** a restricted (untrusted) workspace: nothing is run, the result says why */
  restricted?: boolean;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export const DESCRIBE_TIMEOUT_MS = 60_000;

/** Whether a resolved model section names the researcher's code (custom, or a plugin arch). */
export function isCustomModelSection(model: Record<string, unknown>): boolean {
  const builtin = ['spikformer', 'spikingformer', 'spikeformer', 'stsa'];
  const plugins = model.plugins;
  return model.arch === 'custom' || (Array.isArray(plugins) && plugins.length > 0 && !builtin.includes(String(model.arch)));
}

/** The files a custom model section reads: model.source and model.plugins (absolute in a resolved config). */
export function describeInputs(model: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (typeof model.source === 'string' && model.source) out.push(model.source);
  if (Array.isArray(model.plugins)) for (const p of model.plugins) if (typeof p === 'string' && p) out.push(p);
  return out;
}

/** The cache key: the model section and the content of every input file (a missing file hashes as missing). */
export function describeKey(model: Record<string, unknown>, readFile: (p: string) => Buffer | undefined = tryRead): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(model));
  for (const file of describeInputs(model)) {
    h.update(`\0${file}\0`);
    const data = readFile(file);
    h.update(data ?? 'missing');
    // files next to the model (its own imports) count too: a change there re-describes
    if (data) for (const sibling of siblingsOf(file)) h.update(`\0${sibling}\0`).update(readFile(sibling) ?? 'missing');
  }
  return h.digest('hex');
}

function tryRead(p: string): Buffer | undefined {
  try {
    return fs.readFileSync(p);
  } catch {
    return undefined;
  }
}

function siblingsOf(file: string): string[] {
  try {
    const dir = path.dirname(file);
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.py'))
      .sort()
      .map((f) => path.join(dir, f))
      .filter((f) => f !== file);
  } catch {
    return [];
  }
}

interface InFlight {
  key: string;
  promise: Promise<DescribeResult | 'cancelled'>;
  cancel(): void;
}

export class Describer {
  private readonly cache = new Map<string, DescribeResult>();
  private readonly inFlight = new Map<string, InFlight>();
  /** processes started (for tests and logs) */
  started = 0;

  /** The cached result of this exact model and files, if any. */
  cached(model: Record<string, unknown>): DescribeResult | undefined {
    return this.cache.get(describeKey(model));
  }

  /** Describe (or answer from the cache); 'cancelled' when a newer request for the same config superseded it. */
  describe(req: DescribeRequest): Promise<DescribeResult | 'cancelled'> {
    const key = describeKey(req.resolved.model);
    const hit = this.cache.get(key);
    if (hit) return Promise.resolve(hit);
    if (req.restricted) {
      return Promise.resolve({
        ok: false,
        error: { kind: 'restricted', key: 'model.arch', message: 'Your model is not run in a restricted (untrusted) workspace: trust the workspace to see its graph and check its arguments.' },
      });
    }
    const running = this.inFlight.get(req.configPath);
    if (running && running.key === key) return running.promise;
    running?.cancel();
    const flight = this.start(req, key);
    this.inFlight.set(req.configPath, flight);
    void flight.promise.then((result) => {
      if (this.inFlight.get(req.configPath) === flight) this.inFlight.delete(req.configPath);
      if (result !== 'cancelled' && (result.ok || !['timeout', 'spawn', 'internal'].includes(result.error.kind))) this.cache.set(key, result);
    });
    return flight.promise;
  }

  /** Kills every describe in flight. */
  dispose(): void {
    for (const f of this.inFlight.values()) f.cancel();
    this.inFlight.clear();
  }

  private start(req: DescribeRequest, key: string): InFlight {
    const tmp = path.join(os.tmpdir(), `spike-describe-${process.pid}-${key.slice(0, 16)}-${Date.now()}.json`);
    fs.writeFileSync(tmp, JSON.stringify({ version: 1, ...req.resolved }));
    this.started++;
    let cancelled = false;
    let settle: (r: DescribeResult | 'cancelled') => void = () => undefined;
    const promise = new Promise<DescribeResult | 'cancelled'>((resolve) => (settle = resolve));
    const child = spawn(req.python, ['-m', 'spikestudio', 'describe', tmp, '--json-errors'], {
      env: runtimeEnv(req.runtimeRoot, req.env ?? process.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: path.dirname(req.configPath),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-4000)));
    const timeoutMs = req.timeoutMs ?? DESCRIBE_TIMEOUT_MS;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ ok: false, error: { kind: 'timeout', key: 'model.arch', message: `describing the model took longer than ${Math.round(timeoutMs / 1000)} s and was stopped (does its forward loop forever?)` } });
    }, timeoutMs);
    const finish = (r: DescribeResult | 'cancelled'): void => {
      clearTimeout(timer);
      fs.rm(tmp, { force: true }, () => undefined);
      settle(r);
    };
    child.on('error', (err) => finish({ ok: false, error: { kind: 'spawn', message: `cannot start ${req.python}: ${err.message}` } }));
    child.on('close', () => {
      if (cancelled) return finish('cancelled');
      finish(parseDescribeOutput(stdout, stderr));
    });
    return {
      key,
      promise,
      cancel: () => {
        cancelled = true;
        child.kill('SIGKILL');
      },
    };
  }
}

/** The describe command's one JSON line (the model, or {"error": …}); anything else becomes an error result. */
export function parseDescribeOutput(stdout: string, stderr = ''): DescribeResult {
  const line = stdout.split(/\r?\n/).filter((l) => l.trim()).pop();
  if (line) {
    try {
      const data = JSON.parse(line) as Record<string, unknown>;
      const presets = data.presets && typeof data.presets === 'object' ? { presets: data.presets as Record<string, DescribedPreset> } : {};
      if (data.error && typeof data.error === 'object') return { ok: false, error: data.error as DescribeError, ...presets };
      if (Array.isArray(data.layers)) return { ok: true, model: data as unknown as DescribedModel, ...presets };
    } catch {
      /* fall through */
    }
  }
  const last = stderr.split(/\r?\n/).filter((l) => l.trim()).pop() ?? 'no output';
  return { ok: false, error: { kind: 'internal', message: `describe failed: ${last}` } };
}
