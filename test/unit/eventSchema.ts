// Validates a runtime event against its own type's schema (events.schema.json `definitions[type]`) plus the envelope,
// closed: a field the schema does not declare for that type is an error too, so what the runtime emits can never
// drift from the schema (and from the TypeScript and Python tables generated from it).
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { REPO_ROOT } from './helpers';

export const EVENTS_SCHEMA_FILE = path.join(REPO_ROOT, 'runtime', 'spikestudio', 'schemas', 'events.schema.json');
export const EVENTS_SCHEMA = JSON.parse(fs.readFileSync(EVENTS_SCHEMA_FILE, 'utf8'));

type Schema = Record<string, unknown>;

/** A copy of `schema` in which every object that lists its properties allows no others. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== 'object') return schema;
  const copy: Schema = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === 'properties'
    ? Object.fromEntries(Object.entries(v as Schema).map(([name, p]) => [name, closed(p)])) : closed(v)]));
  if (copy.properties && copy.additionalProperties === undefined) copy.additionalProperties = false;
  return copy;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const byType = new Map<string, ValidateFunction>();

function validatorOf(type: string): ValidateFunction | undefined {
  const definition = (EVENTS_SCHEMA.definitions as Record<string, Schema>)[type];
  if (!definition) return undefined;
  if (!byType.has(type)) {
    const envelope = EVENTS_SCHEMA.properties as Schema;
    byType.set(type, ajv.compile(closed({
      ...definition,
      properties: { ...envelope, ...(definition.properties as Schema) },
      required: [...new Set([...(EVENTS_SCHEMA.required as string[]), ...((definition.required as string[]) ?? [])])],
    }) as Schema));
  }
  return byType.get(type);
}

/** '' when `event` is valid against its own type's closed schema, else what is wrong (naming the type). */
export function eventErrors(event: unknown): string {
  const type = (event as { type?: unknown } | null)?.type;
  if (typeof type !== 'string') return `no type: ${JSON.stringify(event)}`;
  const validate = validatorOf(type);
  if (!validate) return `unknown event type ${JSON.stringify(type)}`;
  if (validate(event)) return '';
  return `${type}: ${validate.errors!.map((e) => `${e.instancePath || '/'} ${e.message}${e.keyword === 'additionalProperties' ? ` (${JSON.stringify(e.params)})` : ''}`).join('; ')}`;
}
