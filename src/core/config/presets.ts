// `extends:` resolution: a preset table (runtime/spikestudio/presets/presets.json, or one injected by tests)
// and a deep merge in which the file wins.

import { CONFIG_SECTIONS } from './definition';
import { didYouMean, editDistance } from './suggest';

export interface PaperRow {
  accuracy?: number;
  params?: number;
  energy_mj?: number;
  [key: string]: unknown;
}

export interface Preset {
  description?: string;
  paper?: PaperRow;
  notes?: string[];
  model?: Record<string, unknown>;
  data?: Record<string, unknown>;
  train?: Record<string, unknown>;
  telemetry?: Record<string, unknown>;
}

export type PresetTable = Readonly<Record<string, Preset>>;

export type PresetLookup = { ok: true; preset: Preset } | { ok: false; message: string };

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A new object: `override`'s values win; nested plain objects merge key by key. */
export function deepMerge(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

export function presetNames(table: PresetTable): string[] {
  return Object.keys(table).sort();
}

export function lookupPreset(name: string, table: PresetTable): PresetLookup {
  const preset = Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
  if (preset) return { ok: true, preset };
  const names = presetNames(table);
  const nearest = [...names].sort((a, b) => editDistance(name, a) - editDistance(name, b)).slice(0, 5);
  const more = names.length > nearest.length ? `, … (${names.length} in all)` : '';
  const known = names.length > 0 ? ` Known presets: ${nearest.join(', ')}${more}.` : ' No presets are available.';
  return {
    ok: false,
    message: `extends: unknown preset "${name}".${didYouMean(name, names)}${known}`,
  };
}

/** Only the config sections of a preset (its description and paper row are metadata). */
export function presetSections(preset: Preset): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const section of CONFIG_SECTIONS) {
    const value = preset[section];
    if (isPlainObject(value)) out[section] = value;
  }
  return out;
}

/** The file's values over the preset's. */
export function applyPreset(preset: Preset, file: Record<string, unknown>): Record<string, unknown> {
  return deepMerge(presetSections(preset), file);
}
