// spike-studio import FILE.yml [-o OUT.spike.yaml] [--arch spikformer|spikingformer] [--name NAME]

import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatDiagnostic, importReferenceConfig, loadConfig } from '../../core/config';
import { parseArgs, UsageError } from '../args';
import { type CliContext, println } from '../context';

export const IMPORT_USAGE =
  'spike-studio import FILE.yml [-o OUT.spike.yaml] [--arch spikformer|spikingformer] [--name NAME]   convert a Spikformer/Spikingformer repository yml';

export function importCommand(ctx: CliContext, argv: string[]): number {
  // -o is accepted as a short form of --out
  const normalized = argv.map((a) => (a === '-o' ? '--out' : a));
  const args = parseArgs(normalized, { valueOptions: ['out', 'arch', 'name'] });
  if (args.flags.has('help')) return println(ctx.stdout, IMPORT_USAGE), 0;
  if (args.positionals.length !== 1) throw new UsageError('import needs exactly one FILE.yml');
  const arch = args.options.arch;
  if (arch !== undefined && arch !== 'spikformer' && arch !== 'spikingformer') throw new UsageError(`--arch must be spikformer or spikingformer, not "${arch}"`);
  const input = path.resolve(ctx.cwd, args.positionals[0]);
  let yml: string;
  try {
    yml = fs.readFileSync(input, 'utf8');
  } catch (error) {
    println(ctx.stderr, `spike-studio import: cannot read ${input}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    return 1;
  }
  let result;
  try {
    result = importReferenceConfig(yml, { arch, name: args.options.name, sourceName: path.basename(input) });
  } catch (error) {
    println(ctx.stderr, `spike-studio import: ${input}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  const out = args.options.out ? path.resolve(ctx.cwd, args.options.out) : null;
  const check = loadConfig(result.text, out ?? path.join(ctx.cwd, 'imported.spike.yaml'), { checkPaths: false });
  if (out) {
    fs.writeFileSync(out, result.text);
    println(ctx.stderr, `wrote ${path.relative(ctx.cwd, out) || out}`);
  } else {
    ctx.stdout.write(result.text);
  }
  if (result.unmapped.length > 0) println(ctx.stderr, `not mapped (${result.unmapped.length}): ${result.unmapped.join(', ')} — listed with reasons at the top of the file`);
  for (const d of check.diagnostics) println(ctx.stderr, formatDiagnostic(out ?? 'imported.spike.yaml', d));
  return check.diagnostics.some((d) => d.severity === 'error') ? 1 : 0;
}
