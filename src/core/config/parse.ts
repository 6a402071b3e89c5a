// YAML parsing with source ranges: every dotted key path maps to the range of its key and of its value.

import { isMap, isScalar, isSeq, parseDocument, type Node, type YAMLError } from 'yaml';
import { type ConfigDiagnostic, type Range, ZERO_RANGE } from './diagnostics';

export interface KeyRanges {
  key: Range;
  value: Range;
}

export interface ParsedYaml {
  /** the document as plain JS (null for an empty document) */
  value: unknown;
  /** dotted path → ranges of its key and of its value */
  ranges: Map<string, KeyRanges>;
  diagnostics: ConfigDiagnostic[];
  /** the range to point at for a path: its key, else its nearest written ancestor's key, else the file start */
  keyRangeOf(path: string): Range;
  valueRangeOf(path: string): Range;
}

type Offsets = readonly [number, number, ...number[]] | undefined | null;

/** Offset → 1-based {line, col}; counts every "\n" of the text (yaml's own LineCounter misses line breaks inside
 * some unterminated scalars) and clamps offsets past the end, so ranges always lie inside the document. */
interface Positions {
  linePos(offset: number): { line: number; col: number };
}

function positionsOf(text: string): Positions {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return {
    linePos(offset: number) {
      const at = Math.max(0, Math.min(Number.isFinite(offset) ? offset : 0, text.length));
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid] <= at) lo = mid;
        else hi = mid - 1;
      }
      return { line: lo + 1, col: at - starts[lo] + 1 };
    },
  };
}

function rangeFromOffsets(lineCounter: Positions, start: number, end: number): Range {
  const from = lineCounter.linePos(start);
  const to = lineCounter.linePos(end);
  return {
    start: { line: from.line - 1, character: from.col - 1 },
    end: { line: to.line - 1, character: to.col - 1 },
  };
}

function nodeRange(lineCounter: Positions, offsets: Offsets, fallback: Range): Range {
  if (!offsets) return fallback;
  return rangeFromOffsets(lineCounter, offsets[0], offsets[1]);
}

function collectRanges(node: Node | null, prefix: string, lineCounter: Positions, out: Map<string, KeyRanges>): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const keyText = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      const path = prefix ? `${prefix}.${keyText}` : keyText;
      const key = nodeRange(lineCounter, keyNode?.range, ZERO_RANGE);
      const valueNode = pair.value as Node | null;
      const value = nodeRange(lineCounter, valueNode?.range, { start: key.end, end: key.end });
      out.set(path, { key, value });
      collectRanges(valueNode, path, lineCounter, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => {
      const path = prefix ? `${prefix}.${index}` : String(index);
      const range = nodeRange(lineCounter, (item as Node | null)?.range, ZERO_RANGE);
      out.set(path, { key: range, value: range });
      collectRanges(item as Node | null, path, lineCounter, out);
    });
  }
}

function yamlErrorDiagnostic(error: YAMLError, lineCounter: Positions, severity: 'error' | 'warning'): ConfigDiagnostic {
  const [start, end] = error.pos;
  const message = error.message.split('\n')[0];
  return {
    severity,
    message: `YAML ${severity === 'error' ? 'syntax error' : 'warning'}: ${message}`,
    path: '',
    range: rangeFromOffsets(lineCounter, start, Math.max(end, start)),
    code: severity === 'error' ? 'yaml-syntax' : 'yaml-warning',
  };
}

function lookupWithFallback(ranges: Map<string, KeyRanges>, path: string, pick: keyof KeyRanges): Range {
  const exact = ranges.get(path);
  if (exact) return exact[pick];
  const parts = path.split('.');
  while (parts.length > 1) {
    parts.pop();
    const ancestor = ranges.get(parts.join('.'));
    if (ancestor) return ancestor.key;
  }
  return ZERO_RANGE;
}

export function parseYamlWithRanges(text: string): ParsedYaml {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const lineCounter = positionsOf(text);
  const diagnostics = [
    ...doc.errors.map((e) => yamlErrorDiagnostic(e, lineCounter, 'error')),
    ...doc.warnings.map((w) => yamlErrorDiagnostic(w, lineCounter, 'warning')),
  ];
  const ranges = new Map<string, KeyRanges>();
  collectRanges(doc.contents as Node | null, '', lineCounter, ranges);
  let value: unknown = null;
  if (doc.errors.length === 0) value = doc.toJS({ maxAliasCount: 100 });
  return {
    value,
    ranges,
    diagnostics,
    keyRangeOf: (path) => lookupWithFallback(ranges, path, 'key'),
    valueRangeOf: (path) => lookupWithFallback(ranges, path, 'value'),
  };
}
