// loadConfig: YAML text → diagnostics (with ranges) and, when there are no errors, the resolved config.

import * as path from 'node:path';
import { knownPresets } from './pluginPresets';
import { CONFIG_SECTIONS, configDefaults, leafFields, objectDefaults, type ResolvedConfig } from './definition';
import { type ConfigDiagnostic, formatDiagnostic, hasErrors, type Range, ZERO_RANGE } from './diagnostics';
import { type KeyRanges, parseYamlWithRanges, type ParsedYaml } from './parse';
import { applyPreset, deepMerge, isPlainObject, lookupPreset, type Preset, type PresetTable, presetSections } from './presets';
import { runSemanticRules } from './rules';
import { checkRequiredSections, type Locate, validateStructure } from './validate';

export * from './definition';
export type { ConfigDiagnostic, ConfigFix, DiagnosticSeverity, Position, Range } from './diagnostics';
export { formatDiagnostic, hasErrors } from './diagnostics';
export type { Preset, PresetTable, PaperRow } from './presets';
export { deepMerge, lookupPreset, presetNames } from './presets';
export { BUNDLED_PRESETS } from './bundled-presets';
export { clearPluginPresets, knownPresets, pluginPreset, registerPluginPresets, type DescribedPreset } from './pluginPresets';
export { SEMANTIC_RULES } from './rules';
export type { RuleContext, RuleFinding, RuleFix, SemanticRule } from './rules';
export { datasetInfo, KNOWN_DATASETS, type DatasetInfo } from './datasets';
export type { KeyRanges } from './parse';

export interface LoadConfigOptions {
  /** preset table for `extends:` (default: the presets shipped with the runtime and the plugin presets described) */
  presets?: PresetTable;
  /** folder for relative paths when sourcePath is null (default: process.cwd()) */
  cwd?: string;
  /** memory of the GPU that will train, MB (e.g. from `doctor`'s gpus[].memory_mb); null/absent: no memory rule */
  gpuMemoryMb?: number | null;
  /** warn when data.root / model.init_from do not exist (default true) */
  checkPaths?: boolean;
}

export interface LoadConfigResult {
  /** present only when there are no errors */
  resolved: ResolvedConfig | null;
  diagnostics: ConfigDiagnostic[];
  /** dotted key path → ranges of its key and value in the text (for hovers and quick fixes) */
  ranges: Map<string, KeyRanges>;
  /** the preset named by `extends:`, when it exists */
  preset: { name: string; preset: Preset } | null;
}

const FILE_SUFFIX = /\.spike\.ya?ml$|\.ya?ml$/i;

function fileLocator(parsed: ParsedYaml): Locate {
  return (p, part) => (part === 'key' ? parsed.keyRangeOf(p) : parsed.valueRangeOf(p));
}

/** Diagnostics about values the file did not write point at `extends:` (they came from the preset). */
function mergedLocator(parsed: ParsedYaml): (p: string) => { range: Range; fromPreset: boolean } {
  return (p) => {
    if (parsed.ranges.has(p)) return { range: parsed.valueRangeOf(p), fromPreset: false };
    if (parsed.ranges.has('extends')) return { range: parsed.valueRangeOf('extends'), fromPreset: true };
    return { range: parsed.keyRangeOf(p), fromPreset: false };
  };
}

function resolvePreset(file: Record<string, unknown>, table: PresetTable, parsed: ParsedYaml) {
  const name = file.extends;
  if (typeof name !== 'string') return { preset: null, diagnostics: [] as ConfigDiagnostic[] };
  const lookup = lookupPreset(name, table);
  if (!lookup.ok) {
    const d: ConfigDiagnostic = { severity: 'error', message: lookup.message, path: 'extends', range: parsed.valueRangeOf('extends'), code: 'unknown-preset' };
    return { preset: null, diagnostics: [d] };
  }
  const range = parsed.valueRangeOf('extends');
  const presetDiagnostics = validateStructure(presetSections(lookup.preset), () => range).map((d) => ({
    ...d,
    message: `preset "${name}": ${d.message}`,
    code: `preset-${d.code}`,
  }));
  return { preset: { name, preset: lookup.preset }, diagnostics: presetDiagnostics };
}

function defaultName(file: Record<string, unknown>, sourcePath: string | null, presetName: string | null): string {
  if (typeof file.name === 'string' && file.name) return file.name;
  if (sourcePath) return path.basename(sourcePath).replace(FILE_SUFFIX, '') || 'experiment';
  if (presetName) return presetName.replace(/[^A-Za-z0-9._-]+/g, '-');
  return 'experiment';
}

function absolutizePaths(config: ResolvedConfig, baseDir: string): void {
  for (const { path: dotted, spec } of leafFields()) {
    if ((spec.type !== 'string' && spec.type !== 'string[]') || !spec.isPath) continue;
    const [section, ...rest] = dotted.split('.');
    let holder = (config as unknown as Record<string, Record<string, unknown>>)[section];
    for (const key of rest.slice(0, -1)) holder = holder[key] as Record<string, unknown>;
    const key = rest[rest.length - 1];
    const value = holder[key];
    if (typeof value === 'string' && value !== '') holder[key] = path.resolve(baseDir, value);
    if (Array.isArray(value)) holder[key] = value.map((v) => (typeof v === 'string' && v !== '' ? path.resolve(baseDir, v) : v));
  }
}

/** An object field written as a mapping (e.g. train.random_resized_crop: {scale: ...}) gets the defaults of the keys it leaves out. */
function fillObjectDefaults(config: ResolvedConfig): void {
  for (const { path: dotted, spec } of leafFields()) {
    if (spec.type !== 'object') continue;
    const [section, ...rest] = dotted.split('.');
    let holder = (config as unknown as Record<string, Record<string, unknown>>)[section];
    for (const key of rest.slice(0, -1)) holder = holder[key] as Record<string, unknown>;
    const key = rest[rest.length - 1];
    const value = holder[key];
    if (isPlainObject(value)) holder[key] = { ...objectDefaults(spec), ...value };
  }
}

function buildResolved(merged: Record<string, unknown>, name: string, sourcePath: string | null, baseDir: string): ResolvedConfig {
  const sections: Record<string, unknown> = {};
  for (const section of CONFIG_SECTIONS) sections[section] = merged[section] ?? {};
  const filled = deepMerge(configDefaults(), sections);
  const resolved = {
    version: 1,
    name,
    source: sourcePath ? path.resolve(sourcePath) : null,
    ...filled,
  } as unknown as ResolvedConfig;
  absolutizePaths(resolved, baseDir);
  fillObjectDefaults(resolved);
  return resolved;
}

function ruleDiagnostics(resolved: ResolvedConfig, parsed: ParsedYaml, presetName: string | null, opts: LoadConfigOptions): ConfigDiagnostic[] {
  const locate = mergedLocator(parsed);
  const ctx = { gpuMemoryMb: opts.gpuMemoryMb ?? null, checkPaths: opts.checkPaths ?? true };
  return runSemanticRules(resolved, ctx).map((finding) => {
    const { range, fromPreset } = locate(finding.path);
    const suffix = fromPreset && presetName ? ` (the value comes from preset "${presetName}"; override it in this file)` : '';
    const d: ConfigDiagnostic = { severity: finding.severity, message: finding.message + suffix, path: finding.path, range, code: finding.code };
    if (finding.fix) {
      const part = finding.fix.part ?? 'value';
      const written = parsed.ranges.get(finding.fix.path);
      d.fix = { title: finding.fix.title, path: finding.fix.path, part, replaceWith: finding.fix.replaceWith, range: written ? written[part] : null };
    }
    return d;
  });
}

function notAMapping(): ConfigDiagnostic {
  return {
    severity: 'error',
    message: 'The config must be a YAML mapping ("key: value" lines) with sections model, data, train, telemetry, or an "extends: <preset>" line.',
    path: '',
    range: ZERO_RANGE,
    code: 'not-a-mapping',
  };
}

/** Errors after which the merged config cannot be trusted to have the right types (rules would misfire). */
function blocksSemanticRules(d: ConfigDiagnostic): boolean {
  return d.severity === 'error' && d.code !== 'missing-section' && d.code !== 'unknown-key';
}

/**
 * Parses, resolves `extends:`, validates and (when there are no errors) resolves a `*.spike.yaml` text.
 * Paths in the result (data.root, model.init_from, source) are absolute, relative to the file's folder.
 */
export function loadConfig(text: string, sourcePath: string | null, opts: LoadConfigOptions = {}): LoadConfigResult {
  const parsed = parseYamlWithRanges(text);
  const result: LoadConfigResult = { resolved: null, diagnostics: [...parsed.diagnostics], ranges: parsed.ranges, preset: null };
  if (hasErrors(result.diagnostics)) return result;
  const file = parsed.value ?? {};
  if (!isPlainObject(file)) {
    result.diagnostics.push(notAMapping());
    return result;
  }
  result.diagnostics.push(...validateStructure(file, fileLocator(parsed)));
  result.diagnostics.push(...checkRequiredSections(file, ZERO_RANGE));
  const { preset, diagnostics } = resolvePreset(file, opts.presets ?? knownPresets(), parsed);
  result.preset = preset;
  result.diagnostics.push(...diagnostics);
  if (result.diagnostics.some(blocksSemanticRules)) return result;

  const merged = preset ? applyPreset(preset.preset, file) : file;
  const baseDir = sourcePath ? path.dirname(path.resolve(sourcePath)) : path.resolve(opts.cwd ?? process.cwd());
  const resolved = buildResolved(merged, defaultName(file, sourcePath, preset?.name ?? null), sourcePath, baseDir);
  result.diagnostics.push(...ruleDiagnostics(resolved, parsed, preset?.name ?? null, opts));
  if (!hasErrors(result.diagnostics)) result.resolved = resolved;
  return result;
}

/** Convenience for callers that only need text → lines. */
export function formatDiagnostics(file: string, diagnostics: readonly ConfigDiagnostic[]): string[] {
  return diagnostics.map((d) => formatDiagnostic(file, d));
}

export { completionsAt, hoverAt, modelSummaryMarkdown, type AuthoringOptions, type CompletionEntry, type HoverResult } from './authoring';
export { importReferenceConfig, type ImportOptions, type ImportResult } from './import';
export { chooseConfig, configFileName, defaultConfigName, newConfigText, paperRowText, presetGroups, validateConfigName, type ConfigCandidates, type ConfigChoice, type PresetGroup, type PresetPickItem } from './newConfig';
