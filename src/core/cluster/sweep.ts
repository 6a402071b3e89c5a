// Sweeps: a `sweep:` section in a config (or a `*.sweep.yaml` beside it) expands into many ordinary runs.
//
//   sweep:
//     grid:                      # every combination
//       train.lr: [5.0e-4, 1.0e-3]
//       model.depth: [1, 2]
//     random:                    # `count` draws per grid point: a list = choice, {min, max, log?, int?} = range
//       train.weight_decay: {min: 1.0e-4, max: 1.0e-2, log: true}
//     count: 2                   # random draws (default 1)
//     seed: 0                    # of the random draws
//     limit: 64                  # refuse to expand to more runs than this
//
// A `NAME.sweep.yaml` holds the `sweep:` section and optionally `config: other.spike.yaml` (default: the sibling
// `NAME.spike.yaml`). Every expanded config is validated like any config before anything starts.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { loadConfig, type LoadConfigOptions, type ResolvedConfig } from '../config';
import { isSection, leafFields, specAt } from '../config/definition';
import { type ConfigDiagnostic, hasErrors, type Range, ZERO_RANGE } from '../config/diagnostics';
import { parseYamlWithRanges } from '../config/parse';
import { isPlainObject } from '../config/presets';
import { closestMatch, didYouMean } from '../config/suggest';
import { writeFileAtomic } from '../runs/runs';

export const DEFAULT_SWEEP_LIMIT = 64;
export const SWEEP_FILE = 'sweep.json';
export const SWEEPS_SUBDIR = path.join('.spike-studio', 'sweeps');

type RandomSpec = unknown[] | { min: number; max: number; log?: boolean; int?: boolean };

export interface SweepSpec {
  grid: Record<string, unknown[]>;
  random: Record<string, RandomSpec>;
  count: number;
  seed: number;
  limit: number;
}

export interface SweepMember {
  index: number;
  /** dotted key → value for this member */
  params: Record<string, unknown>;
  resolved: ResolvedConfig;
}

export interface LoadSweepResult {
  /** null when the file has no sweep section */
  spec: SweepSpec | null;
  members: SweepMember[];
  diagnostics: ConfigDiagnostic[];
  /** the config file the members derive from */
  baseFile: string;
}

function diag(message: string, p: string, range: Range, code: string, severity: 'error' | 'warning' = 'error'): ConfigDiagnostic {
  return { severity, message, path: p, range, code };
}

/** Adds the did-you-mean quick fix (rename the key in place) when a candidate is close to `key`. */
function withRename(d: ConfigDiagnostic, key: string, candidates: Iterable<string>): ConfigDiagnostic {
  const match = closestMatch(key, candidates);
  if (match) d.fix = { title: `Rename to ${match}`, path: d.path, part: 'key', replaceWith: match, range: d.range };
  return d;
}

/** mulberry32: a small seeded PRNG (reproducible draws for a given seed). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function setDotted(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(node[part])) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

const LEAF_PATHS = (): string[] => leafFields().map((f) => f.path);

/** Reads and checks the sweep section; keys must be config keys (did-you-mean otherwise). */
function parseSpec(raw: unknown, at: (p: string, part: 'key' | 'value') => Range, diagnostics: ConfigDiagnostic[]): SweepSpec | null {
  if (!isPlainObject(raw)) {
    diagnostics.push(diag('"sweep" must be a mapping with grid:, random:, count:, seed:.', 'sweep', at('sweep', 'value'), 'sweep-shape'));
    return null;
  }
  const spec: SweepSpec = { grid: {}, random: {}, count: 1, seed: 0, limit: DEFAULT_SWEEP_LIMIT };
  const known = ['grid', 'random', 'count', 'seed', 'limit'];
  for (const [key, value] of Object.entries(raw)) {
    const p = `sweep.${key}`;
    if (!known.includes(key)) {
      diagnostics.push(withRename(diag(`Unknown key "${key}" in sweep (known: ${known.join(', ')}).${didYouMean(key, known)}`, p, at(p, 'key'), 'unknown-key'), key, known));
    } else if (key === 'grid' || key === 'random') {
      if (!isPlainObject(value)) {
        diagnostics.push(diag(`"${p}" must map dotted config keys (e.g. train.lr) to values.`, p, at(p, 'value'), 'sweep-shape'));
        continue;
      }
      for (const [dotted, values] of Object.entries(value)) {
        const kp = `${p}.${dotted}`;
        const field = specAt(dotted);
        if (!field || isSection(field)) {
          const hint = didYouMean(dotted, LEAF_PATHS());
          const what = field ? `"${dotted}" is a section, not a key` : `"${dotted}" is not a config key`;
          diagnostics.push(withRename(diag(`${what} (sweep keys are dotted paths such as train.lr).${hint}`, kp, at(kp, 'key'), 'sweep-unknown-key'), dotted, LEAF_PATHS()));
          continue;
        }
        if (key === 'grid') {
          if (!Array.isArray(values) || values.length === 0) {
            diagnostics.push(diag(`${kp} must be a non-empty list of values.`, kp, at(kp, 'value'), 'sweep-values'));
          } else spec.grid[dotted] = values;
        } else if (Array.isArray(values) && values.length > 0) {
          spec.random[dotted] = values;
        } else if (isPlainObject(values) && typeof values.min === 'number' && typeof values.max === 'number' && values.min <= values.max && (!values.log || values.min > 0)) {
          spec.random[dotted] = values as RandomSpec;
        } else {
          diagnostics.push(diag(`${kp} must be a list (choice) or {min, max, log?, int?} with min ≤ max (min > 0 with log).`, kp, at(kp, 'value'), 'sweep-values'));
        }
      }
    } else if (!Number.isInteger(value) || (value as number) < (key === 'seed' ? 0 : 1)) {
      diagnostics.push(diag(`${p} must be a whole number ${key === 'seed' ? '≥ 0' : '≥ 1'}.`, p, at(p, 'value'), 'wrong-type'));
    } else {
      spec[key as 'count' | 'seed' | 'limit'] = value as number;
    }
  }
  return spec;
}

/** Every member's parameters: grid product × `count` random draws (when random keys exist). */
export function expandSweep(spec: SweepSpec): Array<Record<string, unknown>> {
  let points: Array<Record<string, unknown>> = [{}];
  for (const [key, values] of Object.entries(spec.grid)) {
    points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  }
  const randomKeys = Object.keys(spec.random);
  if (randomKeys.length === 0) return Object.keys(spec.grid).length ? points : [];
  const next = rng(spec.seed);
  const out: Array<Record<string, unknown>> = [];
  for (const point of points) {
    for (let i = 0; i < spec.count; i++) {
      const member = { ...point };
      for (const key of randomKeys) {
        const r = spec.random[key];
        if (Array.isArray(r)) member[key] = r[Math.floor(next() * r.length)];
        else {
          const u = next();
          let v = r.log ? Math.exp(Math.log(r.min) + u * (Math.log(r.max) - Math.log(r.min))) : r.min + u * (r.max - r.min);
          v = r.int ? Math.round(v) : Number(v.toPrecision(6));
          member[key] = v;
        }
      }
      out.push(member);
    }
  }
  return out;
}

/** A short text for a member's parameters: "train.lr=0.001 model.depth=2". */
export function describeParams(params: Record<string, unknown>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

export function isSweepFile(file: string): boolean {
  return /\.sweep\.ya?ml$/i.test(file);
}

/**
 * Loads a config with a `sweep:` section, or a `*.sweep.yaml`: the sweep's diagnostics (ranges in `file`) and,
 * when there are no errors, every member's resolved config.
 */
export function loadSweep(text: string, file: string, opts: LoadConfigOptions = {}): LoadSweepResult {
  const parsed = parseYamlWithRanges(text);
  const diagnostics = [...parsed.diagnostics];
  const at = (p: string, part: 'key' | 'value') => (part === 'key' ? parsed.keyRangeOf(p) : parsed.valueRangeOf(p));
  const result: LoadSweepResult = { spec: null, members: [], diagnostics, baseFile: file };
  if (hasErrors(diagnostics) || !isPlainObject(parsed.value)) return result;
  const doc = parsed.value;
  let baseText = text;
  let base: Record<string, unknown> = { ...doc };
  if (isSweepFile(file)) {
    const known = ['sweep', 'config'];
    for (const key of Object.keys(doc)) {
      if (!known.includes(key)) diagnostics.push(withRename(diag(`Unknown key "${key}" in a sweep file (known: sweep, config).${didYouMean(key, known)}`, key, at(key, 'key'), 'unknown-key'), key, known));
    }
    const configRef = typeof doc.config === 'string' ? doc.config : path.basename(file).replace(/\.sweep\.ya?ml$/i, '.spike.yaml');
    result.baseFile = path.resolve(path.dirname(file), configRef);
    try {
      baseText = fs.readFileSync(result.baseFile, 'utf8');
    } catch {
      diagnostics.push(diag(`The sweep's config ${configRef} cannot be read: set "config:" to the *.spike.yaml this sweep varies.`, 'config', doc.config !== undefined ? at('config', 'value') : ZERO_RANGE, 'sweep-config'));
      return result;
    }
    const baseParsed = parseYamlWithRanges(baseText);
    base = isPlainObject(baseParsed.value) ? { ...baseParsed.value } : {};
  }
  if (doc.sweep === undefined) {
    if (isSweepFile(file)) diagnostics.push(diag('A *.sweep.yaml needs a "sweep:" section.', '', ZERO_RANGE, 'sweep-shape'));
    return result;
  }
  delete base.sweep;
  const spec = parseSpec(doc.sweep, at, diagnostics);
  result.spec = spec;
  if (!spec || hasErrors(diagnostics)) return result;
  const all = expandSweep(spec);
  const sweepRange = at('sweep', 'key');
  if (all.length === 0) {
    diagnostics.push(diag('The sweep expands to no runs: give sweep.grid (lists of values) or sweep.random with sweep.count.', 'sweep', sweepRange, 'sweep-empty'));
    return result;
  }
  if (all.length > spec.limit) {
    diagnostics.push(diag(`The sweep expands to ${all.length} runs, more than its limit of ${spec.limit}: shorten the lists, lower sweep.count or raise sweep.limit.`, 'sweep', sweepRange, 'sweep-too-large'));
    return result;
  }
  const baseName = typeof base.name === 'string' ? base.name : path.basename(result.baseFile).replace(/\.(spike|sweep)\.ya?ml$|\.ya?ml$/i, '');
  all.forEach((params, index) => {
    const member: Record<string, unknown> = structuredClone(base);
    for (const [key, value] of Object.entries(params)) setDotted(member, key, value);
    member.name = `${baseName}-s${index}`;
    const loaded = loadConfig(stringify(member), result.baseFile, opts);
    const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
    for (const e of errors) {
      const key = Object.keys(params).find((k) => e.path === k);
      const range = key ? at(Object.keys(spec.grid).includes(key) ? `sweep.grid.${key}` : `sweep.random.${key}`, 'key') : sweepRange;
      diagnostics.push(diag(`Sweep member ${index} (${describeParams(params)}): ${e.message}`, e.path, range, e.code));
    }
    if (loaded.resolved && errors.length === 0) result.members.push({ index, params, resolved: loaded.resolved });
  });
  if (hasErrors(diagnostics)) result.members = [];
  return result;
}

/**
 * What the editor shows for a document as it is typed: a `*.sweep.yaml` → its sweep's diagnostics (unknown keys with
 * did-you-mean and a rename fix, an expansion to zero or over the limit, every expanded member validated against the
 * config it varies); any other config → the config's own diagnostics plus, when the config itself is clean, those
 * of its `sweep:` section. `file` null (an untitled document): the config's diagnostics only.
 */
export function documentDiagnostics(text: string, file: string | null, opts: LoadConfigOptions = {}): ConfigDiagnostic[] {
  if (file && isSweepFile(file)) return loadSweep(text, file, opts).diagnostics;
  const { diagnostics } = loadConfig(text, file, opts);
  if (file && /^sweep\s*:/m.test(text) && !hasErrors(diagnostics)) {
    // the YAML errors are the config's own, already reported
    diagnostics.push(...loadSweep(text, file, opts).diagnostics.filter((d) => !d.code.startsWith('yaml-')));
  }
  return diagnostics;
}

// ---------------------------------------------------------------------------------------------- the sweep folder

export interface SweepRecord {
  id: string;
  /** the file that defines the sweep */
  source: string;
  createdAt: number;
  /** local: N at a time; slurm: a job array */
  mode: 'local' | 'slurm';
  keys: string[];
  members: Array<{ index: number; runId: string; runDir: string; params: Record<string, unknown> }>;
  jobId?: string;
}

/** Membership written into each member's run dir (RUN_DIR/sweep.json). */
export interface SweepMembership {
  sweepId: string;
  index: number;
  params: Record<string, unknown>;
}

export function newSweepId(name: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 40)}-${crypto.randomBytes(2).toString('hex')}`;
}

export function writeSweepRecord(sweepsDir: string, record: SweepRecord): string {
  const dir = path.join(sweepsDir, record.id);
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(path.join(dir, SWEEP_FILE), JSON.stringify(record, null, 2) + '\n');
  return dir;
}

export function writeMembership(runDir: string, membership: SweepMembership): void {
  writeFileAtomic(path.join(runDir, SWEEP_FILE), JSON.stringify(membership, null, 2) + '\n');
}

export function readMembership(runDir: string): SweepMembership | null {
  try {
    const value = JSON.parse(fs.readFileSync(path.join(runDir, SWEEP_FILE), 'utf8')) as SweepMembership;
    return typeof value?.sweepId === 'string' ? value : null;
  } catch {
    return null;
  }
}
