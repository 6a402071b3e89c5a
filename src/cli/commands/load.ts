// Reading and resolving a config file for a command, printing its diagnostics.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatDiagnostic, hasErrors, loadConfig, type ResolvedConfig } from '../../core/config';
import { type CliContext, println } from '../context';

export interface LoadedFile {
  resolved: ResolvedConfig | null;
  errors: number;
  warnings: number;
}

/** Loads one file and prints `file:line:col: severity: message` lines to `out`. */
export function loadAndReport(ctx: CliContext, file: string, out: NodeJS.WritableStream): LoadedFile {
  const absolute = path.resolve(ctx.cwd, file);
  let text: string;
  try {
    text = fs.readFileSync(absolute, 'utf8');
  } catch (error) {
    println(out, `${file}:1:1: error: cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)}).`);
    return { resolved: null, errors: 1, warnings: 0 };
  }
  const { resolved, diagnostics } = loadConfig(text, absolute);
  for (const d of diagnostics) println(out, formatDiagnostic(file, d));
  return {
    resolved: hasErrors(diagnostics) ? null : resolved,
    errors: diagnostics.filter((d) => d.severity === 'error').length,
    warnings: diagnostics.filter((d) => d.severity === 'warning').length,
  };
}
