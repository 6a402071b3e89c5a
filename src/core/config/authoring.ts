// Editor support as pure functions (the extension wraps them in a HoverProvider / CompletionItemProvider):
//   hoverAt(text, sourcePath, line, character)  -> {markdown} | null
//   completionsAt(text, line, character)        -> CompletionEntry[]
// Positions are 0-based (VS Code's).

import {
  denseFlops,
  E_AC_PJ,
  E_MAC_PJ,
  estimateEnergy,
  estimateTrainingMemory,
  formatCount,
  type ModelPrediction,
  NOMINAL_FIRING_RATE,
  predictModel,
  tokenCount,
} from '../arch';
import { knownPresets } from './pluginPresets';
import { KNOWN_DATASETS } from './datasets';
import { CONFIG_DEFINITION, CONFIG_SECTIONS, configDefaults, type FieldSpec, isSection, type SectionSpec, specAt, TOP_LEVEL_FIELDS } from './definition';
import type { Range } from './diagnostics';
import { parseYamlWithRanges } from './parse';
import { deepMerge, isPlainObject, type Preset, type PresetTable, presetNames, presetSections } from './presets';

export interface AuthoringOptions {
  presets?: PresetTable;
  /** measured firing rates (LIF output rates by layer name, from a run's `firing` events) for the energy line */
  rates?: Readonly<Record<string, number>>;
}

export interface HoverResult {
  markdown: string;
  /** the key or value hovered */
  range: Range;
}

function contains(range: Range, line: number, character: number): boolean {
  const afterStart = line > range.start.line || (line === range.start.line && character >= range.start.character);
  const beforeEnd = line < range.end.line || (line === range.end.line && character <= range.end.character);
  return afterStart && beforeEnd;
}

function specMarkdown(path: string, spec: FieldSpec | SectionSpec): string {
  const lines = [`**${path}**`, '', spec.description];
  if (!isSection(spec)) {
    const type = spec.type === 'enum' ? spec.values.map((v) => `\`${String(v)}\``).join(' | ') : spec.type;
    lines.push('', `Type: ${type}${spec.nullable ? ' | `null`' : ''} · default: \`${JSON.stringify(spec.default)}\``);
    if (spec.type === 'integer' || spec.type === 'number') {
      const bounds = [
        spec.minimum !== undefined ? `≥ ${spec.minimum}` : '',
        spec.exclusiveMinimum !== undefined ? `> ${spec.exclusiveMinimum}` : '',
        spec.maximum !== undefined ? `≤ ${spec.maximum}` : '',
      ].filter(Boolean);
      if (bounds.length) lines[lines.length - 1] += ` · ${bounds.join(', ')}`;
    }
  }
  return lines.join('\n');
}

function presetMarkdown(name: string, preset: Preset): string {
  const lines = [`**preset \`${name}\`**`, '', preset.description ?? ''];
  const paper = preset.paper;
  if (paper) {
    const cells: Array<[string, string]> = [];
    if (typeof paper.accuracy === 'number') cells.push(['top-1 accuracy', `${paper.accuracy} %`]);
    if (typeof paper.params === 'number') cells.push(['params', formatCount(paper.params)]);
    if (typeof paper.energy_mj === 'number') cells.push(['energy', `${paper.energy_mj} mJ`]);
    if (typeof paper.sops_g === 'number') cells.push(['SOPs', `${paper.sops_g} G`]);
    if (typeof paper.time_steps === 'number') cells.push(['T', String(paper.time_steps)]);
    if (cells.length) {
      lines.push('', `| paper | ${cells.map((c) => c[0]).join(' | ')} |`, `|---|${cells.map(() => '---').join('|')}|`, `| ${paper.source ?? ''} | ${cells.map((c) => c[1]).join(' | ')} |`);
    }
  }
  try {
    const p = predictModel(mergedModel(preset, {}));
    lines.push('', `This build: ${formatCount(p.params)} parameters, ${tokenCount(p)} tokens.`);
  } catch {
    /* a preset this build cannot describe: no derived line */
  }
  return lines.join('\n');
}

function mergedModel(preset: Preset | null, fileModel: unknown): Record<string, unknown> {
  const base = deepMerge(configDefaults().model as unknown as Record<string, unknown>, preset ? ((presetSections(preset).model as Record<string, unknown>) ?? {}) : {});
  return isPlainObject(fileModel) ? deepMerge(base, fileModel) : base;
}

function mergedSection(section: 'data' | 'train', preset: Preset | null, file: Record<string, unknown>): Record<string, unknown> {
  const defaults = configDefaults()[section] as unknown as Record<string, unknown>;
  const fromPreset = preset ? ((presetSections(preset)[section] as Record<string, unknown>) ?? {}) : {};
  const fromFile = isPlainObject(file[section]) ? (file[section] as Record<string, unknown>) : {};
  return deepMerge(deepMerge(defaults, fromPreset), fromFile);
}

/** The derived-numbers block shown on model keys. */
export function modelSummaryMarkdown(p: ModelPrediction, batch: number, amp: unknown, rates?: Readonly<Record<string, number>>): string {
  const flops = denseFlops(p);
  const nominal = estimateEnergy(p);
  const mem = estimateTrainingMemory(p, batch, { amp: amp as string | boolean });
  const lines = [
    `| ${p.arch} (${p.variant}) | |`,
    '|---|---|',
    `| parameters | ${formatCount(p.params)} (${p.params.toLocaleString('en-US')}) |`,
    `| tokens N | ${tokenCount(p)} (${p.token_grid[0]}×${p.token_grid[1]}) |`,
    `| dense FLOPs | ${formatCount(flops.total)} per sample (T = ${p.time_steps}; ${formatCount(flops.perStep)} per step) |`,
    `| SOPs @ ${Math.round(NOMINAL_FIRING_RATE * 100)} % firing | ${formatCount(nominal.sops)} |`,
    `| energy @ ${Math.round(NOMINAL_FIRING_RATE * 100)} % firing | ${nominal.energy_mj.toFixed(3)} mJ (${formatCount(nominal.macs)} MAC × ${E_MAC_PJ} pJ + SOPs × ${E_AC_PJ} pJ; papers' counting, strict ${estimateEnergy(p, { counting: 'strict' }).energy_mj.toFixed(3)} mJ) |`,
  ];
  if (rates && Object.keys(rates).length > 0) {
    const measured = estimateEnergy(p, { rates });
    lines.push(`| energy @ measured rates | ${measured.energy_mj.toFixed(3)} mJ (${formatCount(measured.sops)} SOPs) |`);
  }
  lines.push(`| training memory (rough) | ≈ ${(mem.total_mb / 1024).toFixed(2)} GB at batch ${batch} × T ${p.time_steps}${amp ? ` (${String(amp)})` : ''} |`);
  return lines.join('\n');
}

/** Hover text for the key or value under the cursor; null when there is nothing to say. */
export function hoverAt(text: string, _sourcePath: string | null, line: number, character: number, opts: AuthoringOptions = {}): HoverResult | null {
  const parsed = parseYamlWithRanges(text);
  let best: { path: string; range: Range; onValue: boolean } | null = null;
  for (const [p, r] of parsed.ranges) {
    if (contains(r.key, line, character) && (!best || p.length > best.path.length || best.onValue)) best = { path: p, range: r.key, onValue: false };
  }
  if (!best) {
    for (const [p, r] of parsed.ranges) {
      const spec = p === 'extends' ? undefined : specAt(p);
      if (spec && isSection(spec)) continue; // a section's value is its whole block: only its key hovers
      if (contains(r.value, line, character) && (!best || p.length > best.path.length)) best = { path: p, range: r.value, onValue: true };
    }
  }
  if (!best) return null;
  const table = opts.presets ?? knownPresets();
  const file = isPlainObject(parsed.value) ? parsed.value : {};
  const presetName = typeof file.extends === 'string' ? file.extends : null;
  const preset = presetName && Object.prototype.hasOwnProperty.call(table, presetName) ? table[presetName] : null;

  if (best.path === 'extends') {
    if (best.onValue && preset && presetName) return { markdown: presetMarkdown(presetName, preset), range: best.range };
    return { markdown: specMarkdown('extends', TOP_LEVEL_FIELDS.extends), range: best.range };
  }
  const spec = specAt(best.path);
  if (!spec) return null;
  const parts = [specMarkdown(best.path, spec)];
  if (best.path === 'model' || best.path.startsWith('model.')) {
    try {
      const p = predictModel(mergedModel(preset, file.model));
      const data = mergedSection('data', preset, file);
      const train = mergedSection('train', preset, file);
      parts.push('', modelSummaryMarkdown(p, Number(data.batch_size) || 1, train.amp, opts.rates));
    } catch (error) {
      parts.push('', `_Derived numbers unavailable: ${error instanceof Error ? error.message : String(error)}_`);
    }
  }
  if (best.path === 'data.dataset' && typeof (file.data as Record<string, unknown> | undefined)?.dataset === 'string') {
    const info = KNOWN_DATASETS[(file.data as Record<string, string>).dataset];
    if (info) parts.push('', `${info.description} Model needs in_channels ${info.channels}, num_classes ${info.num_classes}.`);
  }
  return { markdown: parts.join('\n'), range: best.range };
}

// ---------------------------------------------------------------------------------------------
// Completions

export interface CompletionEntry {
  label: string;
  kind: 'key' | 'section' | 'value' | 'preset';
  detail?: string;
  documentation?: string;
  /** text to insert (keys: "name: ", sections: "name:\n  ") */
  insertText: string;
}

const KEY_LINE = /^(\s*)([A-Za-z_][\w.-]*)\s*:(.*)$/;

function indentOf(s: string): number {
  return s.length - s.trimStart().length;
}

/** Dotted path of the parent mapping that a line at `indent` (at line `line`) belongs to. */
function parentPath(lines: string[], line: number, indent: number): string[] {
  const path: string[] = [];
  let current = indent;
  for (let i = line - 1; i >= 0 && current > 0; i--) {
    const text = lines[i];
    if (text.trim() === '' || text.trimStart().startsWith('#')) continue;
    const m = KEY_LINE.exec(text);
    const ind = indentOf(text);
    if (m && ind < current) {
      path.unshift(m[2]);
      current = ind;
    }
  }
  return path;
}

/** Keys already written directly in the mapping at `parent` (to leave them out). */
function siblingKeys(lines: string[], line: number, indent: number): Set<string> {
  const out = new Set<string>();
  for (const dir of [-1, 1]) {
    for (let i = line + dir; i >= 0 && i < lines.length; i += dir) {
      const text = lines[i];
      if (text.trim() === '' || text.trimStart().startsWith('#')) continue;
      const ind = indentOf(text);
      if (ind < indent) break;
      const m = KEY_LINE.exec(text);
      if (m && ind === indent) out.add(m[2]);
    }
  }
  return out;
}

function valueCompletions(path: string, presets: PresetTable): CompletionEntry[] {
  if (path === 'extends') {
    return presetNames(presets).map((name) => ({ label: name, kind: 'preset', detail: presets[name].paper ? `paper: ${presets[name].paper?.accuracy ?? '?'} %` : undefined, documentation: presets[name].description, insertText: name }));
  }
  if (path === 'data.dataset') {
    return Object.entries(KNOWN_DATASETS).map(([name, info]) => ({ label: name, kind: 'value', documentation: info.description, insertText: name }));
  }
  const spec = specAt(path);
  if (!spec || isSection(spec)) return [];
  const values: Array<string | number | boolean | null> = spec.type === 'enum' ? [...spec.values] : spec.type === 'boolean' ? [true, false] : [];
  if (spec.nullable) values.push(null);
  return values.map((v) => ({ label: String(v), kind: 'value', detail: v === spec.default ? 'default' : undefined, insertText: String(v) }));
}

function keyCompletions(parent: string[], written: Set<string>): CompletionEntry[] {
  let fields: Record<string, FieldSpec | SectionSpec>;
  if (parent.length === 0) {
    fields = { ...TOP_LEVEL_FIELDS };
    for (const name of CONFIG_SECTIONS) fields[name] = CONFIG_DEFINITION[name];
  } else {
    const spec = specAt(parent.join('.'));
    if (!spec || !(isSection(spec) || spec.type === 'object')) return [];
    fields = spec.fields;
  }
  return Object.entries(fields)
    .filter(([key]) => !written.has(key))
    .map(([key, spec]) =>
      isSection(spec)
        ? { label: key, kind: 'section' as const, documentation: spec.description, insertText: `${key}:\n${'  '.repeat(parent.length + 1)}` }
        : { label: key, kind: 'key' as const, detail: `default: ${JSON.stringify(spec.default)}`, documentation: spec.description, insertText: `${key}: ` },
    );
}

/** Completion entries at the cursor: enum values, preset names, datasets, or the keys of the current section. */
export function completionsAt(text: string, line: number, character: number, opts: AuthoringOptions = {}): CompletionEntry[] {
  const lines = text.split(/\r?\n/);
  const current = lines[line] ?? '';
  const before = current.slice(0, character);
  const presets = opts.presets ?? knownPresets();
  const keyValue = KEY_LINE.exec(before);
  if (keyValue) {
    const indent = keyValue[1].length;
    const path = [...parentPath(lines, line, indent), keyValue[2]].join('.');
    return valueCompletions(path, presets);
  }
  if (/^\s*[\w-]*$/.test(before)) {
    const indent = indentOf(before);
    return keyCompletions(parentPath(lines, line, indent), siblingKeys(lines, line, indent));
  }
  return [];
}
