// Structural validation against the field-spec table: unknown keys, wrong types, enums, ranges, patterns and
// the sections a file without `extends:` must write.

import {
  CONFIG_DEFINITION,
  CONFIG_SECTIONS,
  type FieldSpec,
  isSection,
  type SectionSpec,
  TOP_LEVEL_FIELDS,
} from './definition';
import type { ConfigDiagnostic, Range } from './diagnostics';
import { isPlainObject } from './presets';
import { closestMatch } from './suggest';

/** Where to point a diagnostic about a path: at its key or at its value. */
export type Locate = (path: string, part: 'key' | 'value') => Range;

function error(path: string, code: string, message: string, range: Range): ConfigDiagnostic {
  return { severity: 'error', message, path, range, code };
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return Number.isInteger(value) ? `the integer ${value}` : `the number ${value}`;
  return `${typeof value} ${String(value)}`;
}

function exampleOf(spec: FieldSpec): string {
  if (spec.default !== null) return JSON.stringify(spec.default).replace(/,/g, ', ');
  if (spec.type === 'enum') return JSON.stringify(spec.values[0]);
  if (spec.type === 'boolean') return 'true';
  if (spec.type === 'string') return '"..."';
  if (spec.type === 'int[]') return '[64, 128]';
  if (spec.type === 'range') return '[0.08, 1.0]';
  if (spec.type === 'object') return `{${Object.keys(spec.fields).join(', ')}}`;
  if (spec.type === 'size') return '32';
  if (spec.type === 'mapping') return '{"pattern": {key: value}}';
  if (spec.type === 'kwargs') return '{dim: 64}';
  if (spec.type === 'string[]') return '[models/my_model.py]';
  if (spec.type === 'integer' && spec.odd) return '3';
  return spec.type === 'integer' ? '1' : '1.0';
}

function expectedKind(spec: FieldSpec): string {
  const kind = {
    integer: spec.type === 'integer' && spec.odd ? 'an odd integer' : 'an integer',
    number: 'a number',
    string: 'a string',
    boolean: 'true or false',
    enum: 'one of the listed values',
    'int[]': 'a non-empty list of integers',
    range: 'a list [low, high] of two numbers',
    object: `a mapping of ${spec.type === 'object' ? Object.keys(spec.fields).join(', ') : 'keys'}`,
    size: 'an integer or [height, width]',
    mapping: `a mapping of ${spec.type === 'mapping' ? spec.keyHint : 'keys'} to settings`,
    kwargs: 'a mapping of argument names to values',
    'string[]': 'a list of file paths',
  }[spec.type];
  return spec.nullable ? `${kind} or null` : kind;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function hasExpectedType(spec: FieldSpec, value: unknown): boolean {
  switch (spec.type) {
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'enum':
      return true;
    case 'int[]':
      return Array.isArray(value) && value.length > 0 && value.every(isInt);
    case 'size':
      return isInt(value) || (Array.isArray(value) && value.length === 2 && value.every(isInt));
    case 'range':
      return Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number' && Number.isFinite(v));
    case 'object':
      return isPlainObject(value);
    case 'mapping':
    case 'kwargs':
      return isPlainObject(value);
    case 'string[]':
      return Array.isArray(value) && value.every((v) => typeof v === 'string' && v !== '');
  }
}

function checkEnum(path: string, spec: FieldSpec, value: unknown, locate: Locate): ConfigDiagnostic[] {
  if (spec.type !== 'enum' || spec.values.includes(value as string | number | boolean)) return [];
  const allowed = spec.values.map((v) => String(v)).join(' | ');
  const suggestion = typeof value === 'string' ? closestMatch(value, spec.values.map(String)) : undefined;
  const hint = suggestion ? ` Did you mean "${suggestion}"?` : '';
  const message = `${path} must be one of ${allowed}${spec.nullable ? ' | null' : ''}, not ${describeValue(value)}.${hint}`;
  const d = error(path, 'bad-enum', message, locate(path, 'value'));
  if (suggestion) d.fix = { title: `Change to ${suggestion}`, path, part: 'value', replaceWith: suggestion, range: d.range };
  return [d];
}

function checkNumberRange(path: string, spec: FieldSpec, value: number, locate: Locate): ConfigDiagnostic[] {
  if (spec.type !== 'integer' && spec.type !== 'number') return [];
  const range = locate(path, 'value');
  if (spec.minimum !== undefined && value < spec.minimum) {
    return [error(path, 'out-of-range', `${path} must be at least ${spec.minimum} (it is ${value}). Set it to ${spec.minimum} or more.`, range)];
  }
  if (spec.exclusiveMinimum !== undefined && value <= spec.exclusiveMinimum) {
    return [error(path, 'out-of-range', `${path} must be greater than ${spec.exclusiveMinimum} (it is ${value}). Set it to a larger value, e.g. ${exampleOf(spec)}.`, range)];
  }
  if (spec.maximum !== undefined && value > spec.maximum) {
    return [error(path, 'out-of-range', `${path} must be at most ${spec.maximum} (it is ${value}). Set it to ${spec.maximum} or less.`, range)];
  }
  if (spec.exclusiveMaximum !== undefined && value >= spec.exclusiveMaximum) {
    return [error(path, 'out-of-range', `${path} must be less than ${spec.exclusiveMaximum} (it is ${value}).`, range)];
  }
  if (spec.odd && value % 2 === 0) {
    return [error(path, 'out-of-range', `${path} must be odd (it is ${value}). Use ${value - 1 >= (spec.minimum ?? 1) ? `${value - 1} or ` : ''}${value + 1}.`, range)];
  }
  return [];
}

/** Every item (int[]) or side (size) must be at least `minimum`. */
function checkItems(path: string, spec: FieldSpec, value: number | number[], locate: Locate): ConfigDiagnostic[] {
  if ((spec.type !== 'int[]' && spec.type !== 'size') || spec.minimum === undefined) return [];
  const items = Array.isArray(value) ? value : [value];
  const bad = items.find((v) => v < (spec.minimum as number));
  if (bad === undefined) return [];
  const what = spec.type === 'int[]' ? 'every entry of ' : Array.isArray(value) ? 'both sides of ' : '';
  return [error(path, 'out-of-range', `${what}${path} must be at least ${spec.minimum} (found ${bad}).`, locate(path, 'value'))];
}

/** A mapping field: each entry must be a mapping whose keys and values fit `spec.values` (shallow). */
function checkMapping(path: string, spec: FieldSpec, value: Record<string, unknown>, locate: Locate): ConfigDiagnostic[] {
  if (spec.type !== 'mapping') return [];
  const out: ConfigDiagnostic[] = [];
  const known = Object.keys(spec.values);
  for (const [key, entry] of Object.entries(value)) {
    const entryPath = `${path}.${key}`;
    if (!isPlainObject(entry)) {
      out.push(error(entryPath, 'wrong-type', `${entryPath} must be a mapping of settings (${known.join(', ')}), but it is ${describeValue(entry)}.`, locate(entryPath, 'value')));
      continue;
    }
    out.push(...checkKeys(entryPath, spec.values, entry, locate));
  }
  return out;
}

/** Each key of `value` must be one of `fields` (else "did you mean"); each known value is checked against its field. */
function checkKeys(path: string, fields: Record<string, FieldSpec>, value: Record<string, unknown>, locate: Locate): ConfigDiagnostic[] {
  const out: ConfigDiagnostic[] = [];
  const known = Object.keys(fields);
  for (const [key, child] of Object.entries(value)) {
    const childPath = `${path}.${key}`;
    const childSpec = fields[key];
    if (!childSpec) out.push(unknownKey(childPath, key, known, locate));
    else out.push(...validateField(childPath, childSpec, child, locate));
  }
  return out;
}

/** A range: low ≤ high, both ends within the bounds. */
function checkRange(path: string, spec: FieldSpec, value: [number, number], locate: Locate): ConfigDiagnostic[] {
  if (spec.type !== 'range') return [];
  const range = locate(path, 'value');
  const [low, high] = value;
  const bounds = [
    spec.minimum !== undefined ? `≥ ${spec.minimum}` : '',
    spec.exclusiveMinimum !== undefined ? `> ${spec.exclusiveMinimum}` : '',
    spec.maximum !== undefined ? `≤ ${spec.maximum}` : '',
  ].filter(Boolean);
  const outside = (v: number) =>
    (spec.minimum !== undefined && v < spec.minimum) || (spec.exclusiveMinimum !== undefined && v <= spec.exclusiveMinimum) || (spec.maximum !== undefined && v > spec.maximum);
  if (outside(low) || outside(high)) {
    return [error(path, 'out-of-range', `both ends of ${path} must be ${bounds.join(' and ')} (it is [${low}, ${high}]).`, range)];
  }
  if (low > high) return [error(path, 'out-of-range', `${path} must be [low, high] with low ≤ high (it is [${low}, ${high}]). Write [${high}, ${low}].`, range)];
  return [];
}

/** An object field: known keys only, each value checked against its field. */
function checkObject(path: string, spec: FieldSpec, value: Record<string, unknown>, locate: Locate): ConfigDiagnostic[] {
  if (spec.type !== 'object') return [];
  return checkKeys(path, spec.fields, value, locate);
}

function checkPattern(path: string, spec: FieldSpec, value: string, locate: Locate): ConfigDiagnostic[] {
  if (spec.type !== 'string' || !spec.pattern || new RegExp(spec.pattern).test(value)) return [];
  const hint = spec.patternHint ?? `a value matching ${spec.pattern}`;
  return [error(path, 'bad-format', `${path} must be ${hint}, not ${JSON.stringify(value)}.`, locate(path, 'value'))];
}

export function validateField(path: string, spec: FieldSpec, value: unknown, locate: Locate): ConfigDiagnostic[] {
  if (value === null) {
    if (spec.nullable) return [];
    const message = `${path} cannot be null: write ${expectedKind(spec)}, e.g. ${path.split('.').pop()}: ${exampleOf(spec)} (or delete the line to use the default).`;
    return [error(path, 'null-value', message, locate(path, 'value'))];
  }
  if (!hasExpectedType(spec, value)) {
    const message = `${path} must be ${expectedKind(spec)}, but it is ${describeValue(value)}. Write e.g. ${path.split('.').pop()}: ${exampleOf(spec)}.`;
    return [error(path, 'wrong-type', message, locate(path, 'value'))];
  }
  if (spec.type === 'enum') return checkEnum(path, spec, value, locate);
  if (spec.type === 'int[]' || spec.type === 'size') return checkItems(path, spec, value as number | number[], locate);
  if (spec.type === 'mapping') return checkMapping(path, spec, value as Record<string, unknown>, locate);
  if (spec.type === 'range') return checkRange(path, spec, value as [number, number], locate);
  if (spec.type === 'object') return checkObject(path, spec, value as Record<string, unknown>, locate);
  if (typeof value === 'number') return checkNumberRange(path, spec, value, locate);
  if (typeof value === 'string') return checkPattern(path, spec, value, locate);
  return [];
}

function unknownKey(path: string, key: string, known: string[], locate: Locate): ConfigDiagnostic {
  const where = path.includes('.') ? `in ${path.slice(0, path.lastIndexOf('.'))}` : 'at the top level';
  const suggestion = closestMatch(key, known);
  const fix = suggestion
    ? ` Did you mean "${suggestion}"?`
    : ` Remove it; the keys allowed ${where} are: ${known.join(', ')}.`;
  const d = error(path, 'unknown-key', `Unknown key "${key}" ${where}.${fix}`, locate(path, 'key'));
  if (suggestion) d.fix = { title: `Rename to ${suggestion}`, path, part: 'key', replaceWith: suggestion, range: d.range };
  return d;
}

export function validateSection(path: string, section: SectionSpec, value: unknown, locate: Locate): ConfigDiagnostic[] {
  if (value === null || value === undefined) return [];
  if (!isPlainObject(value)) {
    const message = `${path} must be a mapping of keys (e.g. "${path.split('.').pop()}:" followed by indented "key: value" lines), but it is ${describeValue(value)}.`;
    return [error(path, 'wrong-type', message, locate(path, 'value'))];
  }
  const diagnostics: ConfigDiagnostic[] = [];
  const known = Object.keys(section.fields);
  for (const [key, child] of Object.entries(value)) {
    const childPath = `${path}.${key}`;
    const spec = section.fields[key];
    if (!spec) diagnostics.push(unknownKey(childPath, key, known, locate));
    else if (isSection(spec)) diagnostics.push(...validateSection(childPath, spec, child, locate));
    else if (spec.type === 'enum' && spec.openWith && typeof child === 'string' && child !== '' && value[spec.openWith] != null) continue;
    else diagnostics.push(...validateField(childPath, spec, child, locate));
  }
  return diagnostics;
}

/** Validates a whole (file or merged) config object; does not check required sections. */
export function validateStructure(value: Record<string, unknown>, locate: Locate): ConfigDiagnostic[] {
  const diagnostics: ConfigDiagnostic[] = [];
  const topLevel: Record<string, FieldSpec> = TOP_LEVEL_FIELDS;
  const sections: Record<string, SectionSpec> = CONFIG_DEFINITION;
  const known = [...Object.keys(topLevel), ...CONFIG_SECTIONS];
  for (const [key, child] of Object.entries(value)) {
    if (key === 'sweep') continue; // a sweep section: checked by core/cluster/sweep (loadSweep)
    if (topLevel[key]) diagnostics.push(...validateField(key, topLevel[key], child, locate));
    else if (sections[key]) diagnostics.push(...validateSection(key, sections[key], child, locate));
    else diagnostics.push(unknownKey(key, key, known, locate));
  }
  return diagnostics;
}

/** Without `extends:`, the sections marked requiredWithoutExtends must be written. */
export function checkRequiredSections(file: Record<string, unknown>, fileStart: Range): ConfigDiagnostic[] {
  if (typeof file.extends === 'string') return [];
  const diagnostics: ConfigDiagnostic[] = [];
  for (const name of CONFIG_SECTIONS) {
    const section: SectionSpec = CONFIG_DEFINITION[name];
    if (!section.requiredWithoutExtends || file[name] !== undefined) continue;
    const message = `Missing section "${name}": add a "${name}:" section, or start the file with "extends: <preset>" (e.g. extends: spikformer-tiny/mnist) to take it from a preset.`;
    diagnostics.push(error(name, 'missing-section', message, fileStart));
  }
  return diagnostics;
}
