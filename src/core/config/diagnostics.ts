// Diagnostics produced by the config pipeline (positions are 0-based, like VS Code's).

export type DiagnosticSeverity = 'error' | 'warning' | 'info';

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

/**
 * A machine-readable fix (the extension turns it into a quick fix): replace the key or the value at `path` with
 * `replaceWith` (YAML text). `range` is where that key/value is written in the file; null when the file does not
 * write `path` (the value came from a preset or a default): then add `<last key>: <replaceWith>` to its section.
 */
export interface ConfigFix {
  title: string;
  path: string;
  part: 'key' | 'value';
  replaceWith: string;
  range: Range | null;
}

export interface ConfigDiagnostic {
  severity: DiagnosticSeverity;
  /** names the key and says how to fix it */
  message: string;
  /** dotted key path ("model.num_heads"); "" for the whole file */
  path: string;
  range: Range;
  /** stable machine-readable code, e.g. "wrong-type", "unknown-key" */
  code: string;
  /** optional quick fix */
  fix?: ConfigFix;
}

export const ZERO_RANGE: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

/** `file:line:col: severity: message` with 1-based line and column. */
export function formatDiagnostic(file: string, d: ConfigDiagnostic): string {
  return `${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.severity}: ${d.message}`;
}

export function hasErrors(diagnostics: readonly ConfigDiagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}
