// spike-studio validate FILE...

import { parseArgs, UsageError } from '../args';
import { type CliContext, println } from '../context';
import { loadAndReport } from './load';

export const VALIDATE_USAGE = 'spike-studio validate FILE...   check configs; prints file:line:col: severity: message';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function validateCommand(ctx: CliContext, argv: string[]): number {
  const args = parseArgs(argv, {});
  if (args.flags.has('help')) return println(ctx.stdout, VALIDATE_USAGE), 0;
  if (args.positionals.length === 0) throw new UsageError('validate needs at least one FILE');
  let errors = 0;
  let warnings = 0;
  for (const file of args.positionals) {
    const result = loadAndReport(ctx, file, ctx.stdout);
    errors += result.errors;
    warnings += result.warnings;
  }
  const files = plural(args.positionals.length, 'file');
  println(ctx.stderr, errors + warnings === 0 ? `${files} valid` : `${plural(errors, 'error')}, ${plural(warnings, 'warning')} in ${files}`);
  return errors > 0 ? 1 : 0;
}
