// The CLI's argv parsing: node:util parseArgs tokenizes; this keeps the CLI's rules and messages on top
// (`-h` is help, other `-x` words are positionals, a value option's value may not start with "--").

import { parseArgs as tokenize } from 'node:util';

export interface ParsedArgs {
  positionals: string[];
  options: Record<string, string>;
  flags: Set<string>;
}

export class UsageError extends Error {}

export interface ArgSpec {
  /** options that take a value */
  valueOptions?: readonly string[];
  /** boolean flags */
  flags?: readonly string[];
}

type OptionTypes = Record<string, { type: 'string' | 'boolean' }>;

export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const valueOptions = new Set(spec.valueOptions ?? []);
  const flagNames = new Set([...(spec.flags ?? []), 'help']);
  const options: OptionTypes = {};
  for (const name of flagNames) options[name] = { type: 'boolean' };
  for (const name of valueOptions) options[name] = { type: 'string' };
  const { tokens } = tokenize({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const result: ParsedArgs = { positionals: [], options: {}, flags: new Set() };
  let lastShortIndex = -1;
  for (const token of tokens) {
    if (token.kind === 'positional') result.positionals.push(token.value);
    else if (token.kind === 'option' && !token.rawName.startsWith('--')) {
      // a short option, or one of a group like -ab: only a lone -h means something; any other word is a positional
      if (token.index === lastShortIndex) continue;
      lastShortIndex = token.index;
      const word = argv[token.index];
      if (word === '-h') result.flags.add('help');
      else result.positionals.push(word);
    } else if (token.kind === 'option') {
      const { name, value, inlineValue } = token;
      if (flagNames.has(name) && !inlineValue) result.flags.add(name);
      else if (valueOptions.has(name)) result.options[name] = inlineValue ? (value as string) : checkedValue(value, name);
      else throw new UsageError(`unknown option ${token.rawName.split('=')[0]}`); // "--=x" names option ""
    }
  }
  return result;
}

function checkedValue(value: string | undefined, name: string): string {
  if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
  return value;
}
