import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { classifyLine, JsonLinesParser, LineSplitter, type ParsedLine } from '../../src/core/runtime/jsonlines';

const event = (seq: number, extra: Record<string, unknown> = {}) => ({ v: 1, type: 'step', t: 1700000000 + seq, seq, ...extra });

function chunkAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

function parseChunks(chunks: Buffer[]): ParsedLine[] {
  const parser = new JsonLinesParser();
  return [...chunks.flatMap((c) => parser.push(c)), ...parser.end()];
}

describe('runtime/jsonlines', () => {
  it('splits lines across chunks and keeps the partial line', () => {
    const splitter = new LineSplitter();
    assert.deepEqual(splitter.push('ab'), []);
    assert.deepEqual(splitter.push('c\nde'), ['abc']);
    assert.equal(splitter.partial, 'de');
    assert.deepEqual(splitter.push('\r\n\n'), ['de', '']);
    assert.deepEqual(splitter.end(), []);
  });

  it('reassembles a UTF-8 character split between chunks', () => {
    const bytes = Buffer.from('{"v":1,"type":"warning","t":1,"seq":0,"message":"héllo ✓ 🚀"}\n');
    const splitter = new LineSplitter();
    const lines = [...splitter.push(bytes.subarray(0, 47)), ...splitter.push(bytes.subarray(47, 49)), ...splitter.push(bytes.subarray(49))];
    assert.equal(JSON.parse(lines[0]).message, 'héllo ✓ 🚀');
  });

  it('surfaces non-JSON and non-event JSON as stray output, skips blank lines', () => {
    assert.deepEqual(classifyLine('Epoch 1 starting'), { kind: 'stray', text: 'Epoch 1 starting' });
    assert.deepEqual(classifyLine('{"foo": 1}'), { kind: 'stray', text: '{"foo": 1}' });
    assert.deepEqual(classifyLine('{"v":1,"type":"step","t":1,'), { kind: 'stray', text: '{"v":1,"type":"step","t":1,' });
    assert.equal(classifyLine('   '), null);
    assert.equal(classifyLine(JSON.stringify(event(3)))?.kind, 'event');
  });

  it('a last line without a newline is delivered by end()', () => {
    const parser = new JsonLinesParser();
    assert.deepEqual(parser.push(JSON.stringify(event(0))), []);
    assert.equal(parser.end()[0]?.kind, 'event');
  });

  it('property: any chunking of a stream yields the same events and stray lines', () => {
    const lineArb = fc.oneof(
      fc.record({ seq: fc.nat(), message: fc.string({ unit: 'grapheme', maxLength: 12 }) }).map(({ seq, message }) => JSON.stringify(event(seq, { message }))),
      fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !s.includes('\n') && !s.includes('\r') && s.trim() !== '' && !s.trim().startsWith('{')),
    );
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), fc.boolean(), (lines, cuts, crlf) => {
        const text = lines.map((l) => l + (crlf ? '\r\n' : '\n')).join('');
        const bytes = Buffer.from(text, 'utf8');
        const whole = parseChunks([bytes]);
        const chunked = parseChunks(chunkAt(bytes, cuts));
        assert.deepEqual(chunked, whole);
        assert.equal(whole.length, lines.length);
        whole.forEach((parsed, i) => {
          if (parsed.kind === 'event') assert.equal(JSON.stringify(parsed.event), lines[i]);
          else assert.equal(parsed.text, lines[i]);
        });
      }),
      { numRuns: 300 },
    );
  });
});
