// Presets of your own models: `@spikestudio.register_model(name, presets={...})` in a file under `model.plugins`.
// The runtime's describe of a config with plugins lists them ({preset: {arch, args, file}}); once registered here,
// `extends: <preset>` validates and resolves (to model.arch, model.preset and the plugin file), hovers show the
// preset, and New Config… offers it. A built-in preset of the same name is never shadowed.

import * as path from 'node:path';
import { BUNDLED_PRESETS } from './bundled-presets';
import type { Preset, PresetTable } from './presets';

/** One preset as the runtime's describe reports it. */
export interface DescribedPreset {
  arch: string;
  /** the model.args defaults the preset selects */
  args?: Record<string, unknown>;
  /** the plugin file that registered it (absolute) */
  file?: string | null;
}

const registered = new Map<string, Preset>();

/** The preset table entry of a described plugin preset: `extends:` it sets model.arch, model.preset and the plugin. */
export function pluginPreset(name: string, d: DescribedPreset): Preset {
  const args = Object.entries(d.args ?? {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
  const where = d.file ? ` in ${path.basename(d.file)}` : '';
  return {
    description: `${d.arch} (your model${where})${args ? `: ${args}` : ''}`,
    model: { arch: d.arch, preset: name, ...(d.file ? { plugins: [d.file] } : {}) },
  };
}

/** Registers the presets a describe reported; true when the table changed (validation should run again). */
export function registerPluginPresets(described: Readonly<Record<string, DescribedPreset>>): boolean {
  let changed = false;
  for (const [name, d] of Object.entries(described)) {
    if (Object.prototype.hasOwnProperty.call(BUNDLED_PRESETS, name) || typeof d?.arch !== 'string') continue;
    const preset = pluginPreset(name, d);
    if (JSON.stringify(registered.get(name)) === JSON.stringify(preset)) continue;
    registered.set(name, preset);
    changed = true;
  }
  return changed;
}

/** Forgets every plugin preset (tests). */
export function clearPluginPresets(): void {
  registered.clear();
}

/** The presets `extends:` knows: the shipped ones and the plugin presets described so far. */
export function knownPresets(): PresetTable {
  return registered.size ? { ...Object.fromEntries(registered), ...BUNDLED_PRESETS } : BUNDLED_PRESETS;
}
