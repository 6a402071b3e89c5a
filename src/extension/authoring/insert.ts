// Where to insert a key that the file does not write yet (a quick fix whose ConfigFix.range is null): under its
// section, after the section's last line, indented like its siblings; missing sections are created. Pure text
// logic (no `vscode` import) so that test/unit/authoring-ext.test.ts can run it.

export interface Insertion {
  /** 0-based position of the insertion (always the end of a line, or the start of an empty text) */
  line: number;
  character: number;
  text: string;
}

const BLANK_OR_COMMENT = /^\s*(#.*)?$/;

function indentOf(s: string): number {
  return s.length - s.trimStart().length;
}

function isContent(s: string): boolean {
  return !BLANK_OR_COMMENT.test(s);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The file's indentation step: the smallest positive indentation of a content line (default 2). */
function indentUnit(lines: readonly string[]): number {
  let unit = Infinity;
  for (const l of lines) {
    if (!isContent(l)) continue;
    const i = indentOf(l);
    if (i > 0 && i < unit) unit = i;
  }
  return Number.isFinite(unit) ? unit : 2;
}

/**
 * The edit that adds `<last key>: <value>` at the dotted `keyPath` (e.g. "model.in_channels" or
 * "model.neuron.tau"), creating missing parent sections. Null when the key is already written, or a parent is
 * written in a form a line insertion cannot extend (a flow mapping `model: {…}` or a scalar).
 */
export function planKeyInsertion(text: string, keyPath: string, value: string): Insertion | null {
  const segments = keyPath.split('.').filter(Boolean);
  if (segments.length === 0) return null;
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.split(/\r?\n/);
  const unit = indentUnit(lines);

  // the current parent mapping: its key line (-1: the document) and the lines of its block [start, end)
  let parentLine = -1;
  let parentIndent = -1;
  let start = 0;
  let end = lines.length;

  for (let i = 0; i < segments.length; i++) {
    let childIndent = -1;
    for (let k = start; k < end; k++) {
      if (isContent(lines[k])) {
        childIndent = indentOf(lines[k]);
        break;
      }
    }
    const keyRe = new RegExp(`^(\\s*)(${escapeRegExp(segments[i])}|"${escapeRegExp(segments[i])}"|'${escapeRegExp(segments[i])}')\\s*:(\\s.*|)$`);
    let found = -1;
    if (childIndent >= 0) {
      for (let k = start; k < end; k++) {
        if (isContent(lines[k]) && indentOf(lines[k]) === childIndent && keyRe.test(lines[k])) {
          found = k;
          break;
        }
      }
    }
    if (found >= 0) {
      if (i === segments.length - 1) return null; // already written: the fix has a range
      const rest = (keyRe.exec(lines[found])?.[3] ?? '').trim();
      if (rest !== '' && !rest.startsWith('#')) return null; // flow mapping or scalar
      parentLine = found;
      parentIndent = childIndent;
      start = found + 1;
      let k = start;
      while (k < end && !(isContent(lines[k]) && indentOf(lines[k]) <= parentIndent)) k++;
      end = k;
      continue;
    }

    // missing from here on: write segments[i..] nested under the parent
    const base = childIndent >= 0 ? childIndent : parentIndent < 0 ? 0 : parentIndent + unit;
    const newLines = segments.slice(i).map((seg, j) => {
      const last = i + j === segments.length - 1;
      return `${' '.repeat(base + j * unit)}${seg}:${last ? ` ${value}` : ''}`;
    });
    // after the block's last line (content, or a comment indented into the block)
    let after = parentLine;
    for (let k = end - 1; k >= start; k--) {
      const l = lines[k];
      if (l.trim() === '') continue;
      if (isContent(l) || parentIndent < 0 || indentOf(l) > parentIndent) {
        after = k;
        break;
      }
    }
    if (after < 0) {
      // a document with no content lines: append at its end
      const lastLine = lines.length - 1;
      const lastText = lines[lastLine];
      return { line: lastLine, character: lastText.length, text: (lastText === '' ? '' : eol) + newLines.join(eol) + (lastText === '' ? eol : '') };
    }
    return { line: after, character: lines[after].length, text: eol + newLines.join(eol) };
  }
  return null;
}

/** Applies an insertion to a text (for tests and previews). */
export function applyInsertion(text: string, ins: Insertion): string {
  const lines = text.split(/(?<=\n)/);
  let offset = 0;
  for (let i = 0; i < ins.line; i++) offset += lines[i]?.length ?? 0;
  offset += ins.character;
  return text.slice(0, offset) + ins.text + text.slice(offset);
}
