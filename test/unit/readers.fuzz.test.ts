// Readers never fail on bad input: random, truncated and garbage events.jsonl content (fast-check).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { EventTailer, parseEventsText, readEvents, summarizeRun } from '../../src/core/runs';
import { classifyLine, JsonLinesParser } from '../../src/core/runtime/jsonlines';
import { removeDir, tempDir, waitFor } from './helpers';

const goodEvent = (seq: number) => JSON.stringify({ v: 1, type: 'step', t: 1700000000 + seq, seq, epoch: 1, step: seq, epoch_step: seq, steps_per_epoch: 10, loss: 1, lr: 0.1, img_per_s: 1 });

/** Lines: valid events, JSON that is not an event, truncated events, binary garbage, blank lines. */
const lineArb = fc.oneof(
  fc.nat(1000).map(goodEvent),
  fc.nat(1000).chain((seq) => fc.nat(200).map((cut) => goodEvent(seq).slice(0, cut))),
  fc.json(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', '   ', '{', '}', '{"v":1}', '{"v":1,"type":"done"}', 'null', '[]', '{"__proto__":{"x":1}}', '\u0000\u0001', '\uFEFF{}'),
  fc.jsonValue().map((v) => JSON.stringify({ v: 1, type: 'hello', t: 1, seq: 0, pid: v })),
);

describe('readers: property tests on random, truncated and garbage input', () => {
  it('parseEventsText never throws; events + skipped + blank lines + torn tail account for every line', () => {
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 40 }), fc.boolean(), (lines, trailingNewline) => {
        const text = lines.map((l) => l.replace(/\n/g, ' ')).join('\n') + (trailingNewline ? '\n' : '');
        const result = parseEventsText(text);
        const complete = text.split('\n');
        complete.pop();
        const blanks = complete.filter((l) => l.trim() === '').length;
        const tailCount = result.tornTail ? 1 : 0;
        // every complete line is an event, a skipped line or blank; the last incomplete one an event or torn
        assert.ok(result.events.length + result.skipped + blanks + tailCount <= complete.length + 1);
        assert.ok(result.events.length + result.skipped + blanks >= complete.length);
        for (const e of result.events) assert.equal(typeof e.type, 'string');
        summarizeRun(result.events); // folding arbitrary (schema-light) events does not throw either
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it('JsonLinesParser: any chunking of any bytes gives the same lines, never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(400), { maxLength: 8 }), (bytes, cuts) => {
        const whole = new JsonLinesParser();
        const expected = [...whole.push(Buffer.from(bytes)), ...whole.end()];
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunked = new JsonLinesParser();
        const got = [];
        let from = 0;
        for (const p of [...points, bytes.length]) {
          got.push(...chunked.push(Buffer.from(bytes.subarray(from, p))));
          from = p;
        }
        got.push(...chunked.end());
        assert.deepEqual(got, expected);
        for (const line of got) assert.ok(line.kind === 'event' || line.kind === 'stray');
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('classifyLine never throws on any string', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => void classifyLine(s)), { numRuns: 500, seed: 3 });
  });

  it('readEvents and EventTailer agree on a garbage file, counting skipped lines', async () => {
    const dir = tempDir();
    try {
      const samples = fc.sample(fc.array(lineArb, { minLength: 5, maxLength: 30 }), { numRuns: 5, seed: 11 });
      for (const [i, lines] of samples.entries()) {
        const file = path.join(dir, `events-${i}.jsonl`);
        const text = lines.map((l) => l.replace(/\n/g, ' ')).join('\n') + '\n';
        fs.writeFileSync(file, text);
        const read = readEvents(file);
        const tailer = new EventTailer(file, { pollMs: 20 });
        let events = 0;
        let stray = 0;
        tailer.onEvents((batch) => (events += batch.length));
        tailer.onStray(() => stray++);
        tailer.start();
        try {
          await waitFor(() => events === read.events.length && stray === read.skipped, 3000);
        } finally {
          tailer.dispose();
        }
        assert.equal(read.tornTail, false);
      }
      // binary garbage with invalid UTF-8 and no newline at all
      const bin = path.join(dir, 'binary.jsonl');
      fs.writeFileSync(bin, Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x0a, 0xc3, 0x28, 0x0a, 0xe2, 0x82]));
      const r = readEvents(bin);
      assert.equal(r.events.length, 0);
      assert.equal(r.skipped, 2);
      assert.equal(r.tornTail, true);
    } finally {
      removeDir(dir);
    }
  });
});
