// A small argv parser: positionals, `--name value`, `--name=value` and boolean flags.

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

export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const valueOptions = new Set(spec.valueOptions ?? []);
  const flagNames = new Set([...(spec.flags ?? []), 'help']);
  const result: ParsedArgs = { positionals: [], options: {}, flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      result.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      result.flags.add('help');
      continue;
    }
    if (!arg.startsWith('--')) {
      result.positionals.push(arg);
      continue;
    }
    const [name, inlineValue] = splitOption(arg.slice(2));
    if (flagNames.has(name) && inlineValue === undefined) result.flags.add(name);
    else if (valueOptions.has(name)) result.options[name] = inlineValue ?? takeValue(argv, ++i, name);
    else throw new UsageError(`unknown option --${name}`);
  }
  return result;
}

function splitOption(text: string): [string, string | undefined] {
  const eq = text.indexOf('=');
  return eq < 0 ? [text, undefined] : [text.slice(0, eq), text.slice(eq + 1)];
}

function takeValue(argv: readonly string[], index: number, name: string): string {
  const value = argv[index];
  if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
  return value;
}
