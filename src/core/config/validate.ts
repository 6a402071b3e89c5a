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
  if (spec.default !== null) return JSON.stringify(spec.default);
  if (spec.type === 'enum') return JSON.stringify(spec.values[0]);
  if (spec.type === 'boolean') return 'true';
  if (spec.type === 'string') return '"..."';
  return spec.type === 'integer' ? '1' : '1.0';
}

function expectedKind(spec: FieldSpec): string {
  const kind = { integer: 'an integer', number: 'a number', string: 'a string', boolean: 'true or false', enum: 'one of the listed values' }[spec.type];
  return spec.nullable ? `${kind} or null` : kind;
}

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
  }
}

function checkEnum(path: string, spec: FieldSpec, value: unknown, locate: Locate): ConfigDiagnostic[] {
  if (spec.type !== 'enum' || spec.values.includes(value as string | boolean)) return [];
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
  return [];
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
