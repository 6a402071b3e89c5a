import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { FIXTURES, REPO_ROOT } from './helpers';

const SCHEMA_FILE = path.join(REPO_ROOT, 'runtime', 'spikestudio', 'schemas', 'events.schema.json');
const EVENTS_DIR = path.join(FIXTURES, 'events');

function eventFixtures(): string[] {
  if (!fs.existsSync(EVENTS_DIR)) return [];
  return fs.readdirSync(EVENTS_DIR).filter((f) => f.endsWith('.jsonl'));
}

describe('protocol: recorded event streams validate against events.schema.json', () => {
  const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')));

  it('the fake runtime used by the unit tests speaks the schema too', () => {
    const sample = { v: 1, type: 'step', t: 1, seq: 0, epoch: 1, step: 1, epoch_step: 1, steps_per_epoch: 3, loss: 1, acc: 0.5, lr: 0.001, img_per_s: 100 };
    assert.ok(validate(sample), JSON.stringify(validate.errors));
    assert.equal(validate({ ...sample, acc: 2 }), false);
  });

  for (const file of eventFixtures()) {
    it(`every line of test/fixtures/events/${file}`, () => {
      const lines = fs.readFileSync(path.join(EVENTS_DIR, file), 'utf8').split('\n').filter((l) => l.trim() !== '');
      assert.ok(lines.length > 0);
      lines.forEach((line, i) => {
        assert.ok(validate(JSON.parse(line)), `${file}:${i + 1}: ${JSON.stringify(validate.errors)}`);
      });
    });
  }
});
