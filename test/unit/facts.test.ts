// Facts kept as data, read by both languages: the config's defaults (definition.ts → the generated schema the
// runtime reads), runtime/spikestudio/data/datasets.json and runtime/spikestudio/telemetry/estimates.json. The
// TypeScript view and the Python runtime's view (.venv/bin/python) must be the same.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import {
  ACTIVATION_FACTOR,
  BYTES_PER_PARAM,
  E_AC_PJ,
  E_MAC_PJ,
  MEMORY_OVERHEAD_MB,
  PACK_SPIKES_FACTOR,
  QKFORMER_DEFAULTS,
  RECOMPUTE_MEMBRANES_FACTOR,
  SPIKEFORMER_DEFAULTS,
  STSA_DEFAULTS,
} from '../../src/core/arch';
import { KNOWN_DATASETS } from '../../src/core/config/datasets';
import { DOWNLOADABLE_DATASETS } from '../../src/core/config/rules';
import { configDefaults, DATASET_NAMES, EVENT_DATASETS, NEURON_FIELDS, SPEECH_DATASETS } from '../../src/core/config/definition';
import { REPO_ROOT } from './helpers';

const PYTHON = path.join(REPO_ROOT, '.venv', 'bin', 'python');

const PYTHON_VIEW = `
import json
from spikestudio.data.facts import DATASETS
from spikestudio.data.download import SOURCES
from spikestudio.models import qkformer, spikeformer, stsa
from spikestudio.models.config import MODEL_DEFAULTS, NEURON_DEFAULTS
from spikestudio.telemetry import energy, memory
from spikestudio.train.config import check_config
cfg = check_config({"model": {"arch": "spikformer", "time_steps": 1, "num_classes": 10, "in_channels": 1, "img_size": 28}})
print(json.dumps({"datasets": DATASETS, "sources": sorted(SOURCES), "data": cfg["data"], "train": cfg["train"], "telemetry": cfg["telemetry"],
                  "model": MODEL_DEFAULTS, "neuron": NEURON_DEFAULTS,
                  "archs": [spikeformer.DEFAULTS, stsa.DEFAULTS, qkformer.DEFAULTS],
                  "energy": [energy.E_MAC_PJ, energy.E_AC_PJ],
                  "memory": [memory.ACTIVATION_FACTOR, memory.PACK_SPIKES_FACTOR, memory.RECOMPUTE_MEMBRANES_FACTOR,
                             memory.MEMORY_OVERHEAD_MB, memory.BYTES_PER_PARAM]}))
`;

function pythonView(): Record<string, any> {
  const r = spawnSync(PYTHON, ['-c', PYTHON_VIEW], { cwd: path.join(REPO_ROOT, 'runtime'), encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${PYTHON} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('facts as data: the TypeScript and Python views agree', function () {
  this.timeout(180_000);
  let py: Record<string, any>;
  before(() => {
    py = pythonView();
  });

  it('datasets.json: the same entries, and the names are data.dataset values', () => {
    assert.deepEqual(py.datasets, KNOWN_DATASETS);
    assert.deepEqual(Object.keys(KNOWN_DATASETS).sort(), [...DATASET_NAMES].sort());
    const withFlag = (flag: 'event' | 'audio') => Object.keys(KNOWN_DATASETS).filter((n) => KNOWN_DATASETS[n][flag]).sort();
    assert.deepEqual(withFlag('event'), [...EVENT_DATASETS].sort());
    assert.deepEqual(withFlag('audio'), [...SPEECH_DATASETS].sort());
    assert.deepEqual([...DOWNLOADABLE_DATASETS].sort(), py.sources);
  });

  it('every default the runtime fills equals the definition', () => {
    const ts = configDefaults() as unknown as Record<string, Record<string, unknown>>;
    for (const section of ['data', 'train', 'telemetry']) {
      for (const [key, value] of Object.entries(py[section] as Record<string, unknown>)) {
        assert.deepEqual(value, ts[section][key], `${section}.${key}`);
      }
    }
    assert.deepEqual(Object.keys(py.train).sort(), Object.keys(ts.train).sort());
    assert.deepEqual(Object.keys(py.telemetry).sort(), Object.keys(ts.telemetry).sort());
    for (const [key, value] of Object.entries(py.model as Record<string, unknown>)) assert.deepEqual(value, ts.model[key], `model.${key}`);
    const neuron = Object.fromEntries(Object.entries(NEURON_FIELDS).map(([k, spec]) => [k, spec.default]));
    assert.deepEqual(py.neuron, neuron);
    assert.deepEqual(py.archs, [SPIKEFORMER_DEFAULTS, STSA_DEFAULTS, QKFORMER_DEFAULTS]);
  });

  it('the energy and memory estimates use the same constants', () => {
    assert.deepEqual(py.energy, [E_MAC_PJ, E_AC_PJ]);
    assert.deepEqual(py.memory, [ACTIVATION_FACTOR, PACK_SPIKES_FACTOR, RECOMPUTE_MEMBRANES_FACTOR, MEMORY_OVERHEAD_MB, BYTES_PER_PARAM]);
  });
});
