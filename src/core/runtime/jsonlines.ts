// Incremental JSON-lines parsing: chunks may split lines and UTF-8 characters anywhere; lines that are not
// runtime events are surfaced as "stray output", never as errors.

import { StringDecoder } from 'node:string_decoder';
import { isRuntimeEvent, type RuntimeEvent } from '../protocol';

export type ParsedLine = { kind: 'event'; event: RuntimeEvent } | { kind: 'stray'; text: string };

/** Splits a byte or text stream into complete lines (without the "\n" or "\r\n"). */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  /** The complete lines that this chunk finishes. */
  push(chunk: Buffer | Uint8Array | string): string[] {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(Buffer.from(chunk));
    const parts = this.pending.split('\n');
    this.pending = parts.pop() ?? '';
    return parts.map(stripCarriageReturn);
  }

  /** Whatever is left when the stream ends (a last line without a newline), if anything. */
  end(): string[] {
    this.pending += this.decoder.end();
    const rest = stripCarriageReturn(this.pending);
    this.pending = '';
    return rest.length > 0 ? [rest] : [];
  }

  /** Text of an incomplete last line that has been received so far. */
  get partial(): string {
    return this.pending;
  }
}

function stripCarriageReturn(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** One line → an event, or stray output (non-JSON, or JSON that is not an event). Blank lines → null. */
export function classifyLine(line: string): ParsedLine | null {
  const trimmed = line.trim();
  if (trimmed === '') return null;
  if (trimmed.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(trimmed);
      if (isRuntimeEvent(value)) return { kind: 'event', event: value };
    } catch {
      // not JSON: stray output
    }
  }
  return { kind: 'stray', text: line };
}

/** LineSplitter + classifyLine. */
export class JsonLinesParser {
  private readonly splitter = new LineSplitter();

  push(chunk: Buffer | Uint8Array | string): ParsedLine[] {
    return classifyAll(this.splitter.push(chunk));
  }

  end(): ParsedLine[] {
    return classifyAll(this.splitter.end());
  }
}

function classifyAll(lines: string[]): ParsedLine[] {
  const out: ParsedLine[] = [];
  for (const line of lines) {
    const parsed = classifyLine(line);
    if (parsed) out.push(parsed);
  }
  return out;
}
