// Slurm scripts, job states, sweeps and the experiments table: the pure parts (no Slurm needed; test/slurm has the
// tests against a real single-node cluster).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkProfile, describeJob, type Exec, jobLogPath, noEventsProblem, parseScontrolJob, queryJob, sbatchScript, shellQuote, submitScript, SlurmError,
} from '../../src/core/cluster/slurm';
import { documentDiagnostics, expandSweep, loadSweep } from '../../src/core/cluster/sweep';
import { memberEnv, prepareClusterRun, submitPrepared, submitSweepArray } from '../../src/core/cluster/submit';
import { deriveStatus } from '../../src/core/runs/runs';
import { summarizeRun } from '../../src/core/runs/events';
import { tableCsv } from '../../src/core/runs/tableModel';

const fakeExec = (responses: Record<string, { code?: number; stdout?: string; stderr?: string }>, calls: string[][] = []): Exec => async (cmd, args) => {
  calls.push([cmd, ...args]);
  const r = responses[cmd] ?? { code: 1 };
  return { code: r.code ?? 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};

describe('cluster: sbatch script', () => {
  it('one node, CPU: runs the trainer directly, forwards USR1, requeues unless Stop asked', () => {
    const s = sbatchScript({ profile: { partition: 'cpu', time: '30', cpus: 4, mem: '8G', setup: ['module load python/3.11'] }, runDirs: ['/shared/runs/r1'], jobName: 'spike-x', python: '/opt/py/bin/python', runtimeRoot: '/ext/runtime' });
    assert.match(s, /^#!\/bin\/bash\n/);
    for (const line of ['#SBATCH --partition=cpu', '#SBATCH --nodes=1', '#SBATCH --cpus-per-task=4', '#SBATCH --mem=8G', '#SBATCH --time=30', '#SBATCH --output=/shared/runs/r1/slurm/slurm-%j.out', '#SBATCH --error=/shared/runs/r1/slurm/slurm-%j.err']) {
      assert.ok(s.includes(line), line);
    }
    assert.ok(!s.includes('--gpus-per-node'));
    assert.ok(!s.includes('srun'), 'one process: no srun/torchrun');
    assert.match(s, /module load python\/3\.11/);
    assert.match(s, /trap on_usr1 USR1/);
    assert.match(s, /kill -USR1 "\$child"/);
    assert.match(s, /"\$PYTHON" -m spikestudio "\$\{ARGS\[@\]\}"/);
    assert.match(s, /ARGS=\(train --resume "\$RUN_DIR"\)/);
    assert.match(s, /\[ ! -f "\$STOP_REQUESTED" \].*\n.*\n  scontrol requeue "\$SLURM_JOB_ID"/);
  });

  it('several nodes × GPUs: srun one torchrun per node with a c10d rendezvous on the first node', () => {
    const s = sbatchScript({ profile: { partition: 'gpu', account: 'proj42', qos: 'high', nodes: 4, gpusPerNode: 8, time: '2-00:00:00', extraOptions: ['--constraint=a100'] }, runDirs: ['/shared/r'], jobName: 'spike-big', python: 'python3', runtimeRoot: '/ext/runtime' });
    for (const line of ['#SBATCH --account=proj42', '#SBATCH --qos=high', '#SBATCH --nodes=4', '#SBATCH --ntasks-per-node=1', '#SBATCH --gpus-per-node=8', '#SBATCH --time=2-00:00:00', '#SBATCH --constraint=a100']) {
      assert.ok(s.includes(line), line);
    }
    assert.match(s, /HEAD_NODE=\$\(scontrol show hostnames "\$SLURM_JOB_NODELIST" \| head -n 1\)/);
    assert.match(s, /srun --kill-on-bad-exit=1 --ntasks-per-node=1 "\$PYTHON" -m torch\.distributed\.run --nnodes="\$SLURM_JOB_NUM_NODES" --nproc_per_node=8/);
    assert.match(s, /--rdzv_backend=c10d --rdzv_endpoint="\$HEAD_NODE:\$RDZV_PORT" --rdzv_id="\$SLURM_JOB_ID" -m spikestudio/);
    assert.ok(!s.includes('kill -USR1 "$child"'), 'under srun the stop reaches rank 0 through the stop file');
    assert.match(s, /export SPIKE_STOP_FILE=/);
  });

  it('a job array picks its member run dir by SLURM_ARRAY_TASK_ID; paths with spaces are quoted', () => {
    const s = sbatchScript({ profile: {}, runDirs: ['/s/a b', '/s/c'], jobName: 'sw', python: 'python3', runtimeRoot: '/rt', logDir: '/s/sweep', arrayParallel: 2 });
    assert.match(s, /#SBATCH --array=0-1%2/);
    assert.match(s, /RUN_DIRS=\('\/s\/a b' \/s\/c\)/);
    assert.match(s, /#SBATCH --output=\/s\/sweep\/slurm-%A_%a\.out/);
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
    assert.equal(jobLogPath('/s/sweep/slurm-%A_%a.err', '77_3'), '/s/sweep/slurm-77_3.err');
    assert.equal(jobLogPath('/r/slurm-%j.out', '12'), '/r/slurm-12.out');
  });

  it('checks cluster profiles', () => {
    assert.deepEqual(checkProfile('a', { partition: 'gpu', nodes: 2, setup: ['x'] }), []);
    assert.match(checkProfile('a', { partiton: 'gpu' })[0], /unknown key/);
    assert.match(checkProfile('a', { nodes: 0 }).join(), /nodes must be ≥ 1/);
    assert.match(checkProfile('a', { setup: 'module load x' })[0], /list of strings/);
  });
});

describe('cluster: submitting and following jobs', () => {
  it('submits with --parsable --signal=B:USR1@grace --requeue and returns the job id', async () => {
    const calls: string[][] = [];
    const id = await submitScript({ script: '/r/job.sbatch', grace: 90, extraArgs: ['--hold'], exec: fakeExec({ sbatch: { stdout: '4242;cluster\n' } }, calls) });
    assert.equal(id, '4242');
    assert.deepEqual(calls[0], ['sbatch', '--parsable', '--signal=B:USR1@90', '--requeue', '--hold', '/r/job.sbatch']);
  });

  it("shows Slurm's own message for an unknown partition or account", async () => {
    const exec = fakeExec({ sbatch: { code: 1, stderr: 'sbatch: error: Batch job submission failed: Invalid partition name specified\n' } });
    await assert.rejects(submitScript({ script: 'x', exec }), (e: SlurmError) => e instanceof SlurmError && /Invalid partition name specified/.test(e.message) && /partition/.test(e.hint ?? ''));
  });

  it('a job Slurm refuses leaves no run folder (nor a sweep folder) behind', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'spike-refused-'));
    const exec = fakeExec({ sbatch: { code: 1, stderr: 'sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified\n' } });
    const target = { profile: { partition: 'gpu', account: 'nobody' }, cluster: 'c', python: 'python3', runtimeRoot: '/rt', exec };
    const sweep = loadSweep('extends: spikformer-tiny/mnist\nname: r\nsweep:\n  grid:\n    train.lr: [0.1, 0.2]\n', path.join(root, 'r.spike.yaml'));
    const prepared = prepareClusterRun(root, sweep.members[0].resolved, target);
    assert.ok(fs.existsSync(prepared.run.dir));
    await assert.rejects(submitPrepared(prepared, target), /Slurm refused the job: Batch job submission failed: Invalid account/);
    await assert.rejects(submitSweepArray(root, 'r.spike.yaml', sweep.members, target), SlurmError);
    const left = (sub: string) => (fs.existsSync(path.join(root, '.spike-studio', sub)) ? fs.readdirSync(path.join(root, '.spike-studio', sub)) : []);
    assert.deepEqual([left('runs'), left('sweeps')], [[], []]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('without sbatch on PATH: says to open the folder on the login node with Remote-SSH', async () => {
    await assert.rejects(submitScript({ script: 'x', env: { PATH: '/nonexistent' } }), (e: SlurmError) => /sbatch was not found/.test(e.message) && /Remote-SSH/.test(e.hint ?? ''));
  });

  it('parses scontrol show job -o; falls back to squeue, then sacct', async () => {
    const line = 'JobId=7 JobName=x UserId=u(1) JobState=PENDING Reason=Priority Dependency=(null) Requeue=1 Restarts=2 BatchFlag=1 NodeList=(null) BatchHost=n1';
    assert.deepEqual(parseScontrolJob(line), { state: 'PENDING', reason: 'Priority', nodes: undefined, restarts: 2, found: true });
    assert.equal(parseScontrolJob('JobId=7 JobState=RUNNING Reason=None NodeList=gpu[01-02] Restarts=0')?.nodes, 'gpu[01-02]');
    assert.deepEqual(await queryJob('7', { exec: fakeExec({ scontrol: { code: 1, stderr: 'Invalid job id' }, squeue: { stdout: 'RUNNING|None|n[1-2]\n' } }) }), { state: 'RUNNING', reason: 'None', nodes: 'n[1-2]', found: true });
    assert.deepEqual(await queryJob('7', { exec: fakeExec({ sacct: { stdout: 'TIMEOUT|n1\n' } }) }), { state: 'TIMEOUT', nodes: 'n1', found: true });
    assert.equal((await queryJob('7', { exec: fakeExec({}) })).found, false);
  });

  it('describes jobs for the Runs view', () => {
    const base = { jobId: '12', cluster: 'c', script: 's', stdout: 'o', stderr: 'e', submittedAt: 0 };
    assert.equal(describeJob({ ...base, state: 'PENDING', reason: 'Resources' }), 'PENDING (Resources) · job 12');
    assert.equal(describeJob({ ...base, state: 'RUNNING', nodes: 'n[1-4]' }), 'RUNNING on n[1-4] · job 12');
    assert.equal(describeJob({ ...base, state: 'COMPLETED', restarts: 1 }), 'COMPLETED · requeued ×1 · job 12');
    for (const s of ['FAILED', 'TIMEOUT', 'PREEMPTED', 'CANCELLED']) assert.equal(describeJob({ ...base, state: s }), `${s} · job 12`);
  });

  it('a Slurm run is running while queued, even after a requeued segment ended `stopped`; failed when it left without done', () => {
    const stopped = summarizeRun([{ v: 1, type: 'done', t: 1, seq: 0, status: 'stopped', epochs_completed: 1, steps: 5, best_top1: null, duration_s: 1, last_checkpoint: null }]);
    const record = { jobId: '1', cluster: 'c', script: 's', stdout: 'o', stderr: 'e', submittedAt: 0 };
    assert.equal(deriveStatus(stopped, 0, {}, { ...record, state: 'PENDING', reason: 'BeginTime' }), 'running');
    assert.equal(deriveStatus(stopped, 0, {}, { ...record, state: 'COMPLETED', final: true }), 'stopped');
    assert.equal(deriveStatus(summarizeRun([]), 0, {}, { ...record, state: 'FAILED', final: true }), 'failed');
    assert.equal(deriveStatus(summarizeRun([]), 0, {}, record), 'running', 'submitted, not yet seen in the queue');
  });

  it('a job that never writes its first event: its state, its stderr tail and the shared-filesystem hint', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spike-noevents-'));
    fs.writeFileSync(path.join(dir, 'slurm-9.err'), 'python: can\'t open file\nNo such file or directory\n');
    const record = { jobId: '9', cluster: 'c', script: 's', stdout: path.join(dir, 'slurm-%j.out'), stderr: path.join(dir, 'slurm-%j.err'), submittedAt: 0, state: 'RUNNING' };
    assert.equal(noEventsProblem(dir, record, true, 60_000, 120_000), null);
    assert.equal(noEventsProblem(dir, record, false, 60_000, 30_000), null);
    assert.equal(noEventsProblem(dir, { ...record, state: 'PENDING' }, false, 60_000, 120_000), null, 'waiting for nodes is not a problem');
    const text = noEventsProblem(dir, record, false, 60_000, 120_000) ?? '';
    assert.match(text, /job 9 is RUNNING but the run wrote no event in 60 s/);
    assert.match(text, /filesystem the compute nodes share/);
    assert.match(text, /No such file or directory/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('local sweeps give each member one GPU when there are several', () => {
    assert.deepEqual(memberEnv(3, 2, { A: '1' }), { A: '1', CUDA_VISIBLE_DEVICES: '1' });
    assert.deepEqual(memberEnv(1, 1), {});
    assert.deepEqual(memberEnv(0, 0), {});
  });
});

describe('cluster: sweeps', () => {
  const base = 'extends: spikformer-tiny/mnist\nname: sw\n';
  const file = path.join(os.tmpdir(), 'sw.spike.yaml');

  it('expands a grid (every combination) and random draws (seeded, count per grid point)', () => {
    const grid = expandSweep({ grid: { 'train.lr': [1, 2], 'model.depth': [1, 2, 3] }, random: {}, count: 1, seed: 0, limit: 64 });
    assert.equal(grid.length, 6);
    assert.deepEqual(grid[0], { 'train.lr': 1, 'model.depth': 1 });
    const spec = { grid: { 'model.depth': [1, 2] }, random: { 'train.lr': { min: 1e-4, max: 1e-2, log: true }, 'train.seed': [0, 1, 2] }, count: 3, seed: 7, limit: 64 };
    const a = expandSweep(spec);
    assert.equal(a.length, 6);
    assert.deepEqual(a, expandSweep(spec), 'same seed, same draws');
    assert.notDeepEqual(a, expandSweep({ ...spec, seed: 8 }));
    for (const m of a) assert.ok((m['train.lr'] as number) >= 1e-4 && (m['train.lr'] as number) <= 1e-2);
  });

  it('validates every member and names it; unknown keys get a did-you-mean', () => {
    const ok = loadSweep(`${base}sweep:\n  grid:\n    train.lr: [0.001, 0.002]\n    model.depth: [1, 2]\n`, file);
    assert.deepEqual(ok.diagnostics, []);
    assert.deepEqual(ok.members.map((m) => m.resolved.name), ['sw-s0', 'sw-s1', 'sw-s2', 'sw-s3']);
    assert.deepEqual(ok.members.map((m) => [m.resolved.train.lr, m.resolved.model.depth]), [[0.001, 1], [0.001, 2], [0.002, 1], [0.002, 2]]);
    const typo = loadSweep(`${base}sweep:\n  grid:\n    train.lrr: [1]\n`, file);
    assert.equal(typo.members.length, 0);
    assert.match(typo.diagnostics[0].message, /"train\.lrr" is not a config key.*Did you mean "train\.lr"\?/);
    assert.equal(typo.diagnostics[0].range.start.line, 4);
    const bad = loadSweep(`${base}sweep:\n  grid:\n    model.num_heads: [2, 3]\n`, file);
    assert.equal(bad.members.length, 0, 'one bad member: nothing starts');
    assert.match(bad.diagnostics[0].message, /Sweep member 1 \(model\.num_heads=3\): model\.num_heads/);
  });

  it('refuses a sweep of zero runs or of more than its limit', () => {
    assert.match(loadSweep(`${base}sweep:\n  count: 4\n`, file).diagnostics[0].message, /expands to no runs/);
    const big = loadSweep(`${base}sweep:\n  grid:\n    train.seed: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n    train.lr: [1, 2, 3, 4, 5, 6, 7, 8]\n`, file);
    assert.match(big.diagnostics[0].message, /expands to 72 runs, more than its limit of 64/);
    assert.equal(loadSweep(`${base}sweep:\n  limit: 100\n  grid:\n    train.seed: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n    train.lr: [1, 2, 3, 4, 5, 6, 7, 8]\n`, file).members.length, 72);
  });

  it('a NAME.sweep.yaml varies the NAME.spike.yaml beside it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spike-sweepfile-'));
    fs.writeFileSync(path.join(dir, 'exp.spike.yaml'), `${base}train:\n  epochs: 3\n`);
    const r = loadSweep('sweep:\n  grid:\n    train.lr: [0.1, 0.2]\n', path.join(dir, 'exp.sweep.yaml'));
    assert.deepEqual(r.diagnostics, []);
    assert.deepEqual(r.members.map((m) => [m.resolved.train.lr, m.resolved.train.epochs]), [[0.1, 3], [0.2, 3]]);
    assert.match(loadSweep('sweep:\n  grid:\n    train.lr: [1]\nconfig: missing.spike.yaml\n', path.join(dir, 'exp.sweep.yaml')).diagnostics[0].message, /cannot be read/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('cluster: *.sweep.yaml validated live (documentDiagnostics)', () => {
  let dir: string;
  let sweepFile: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spike-sweeplive-'));
    fs.writeFileSync(path.join(dir, 'exp.spike.yaml'), 'extends: spikformer-tiny/mnist\nname: exp\nmodel:\n  num_heads: 2\n');
    sweepFile = path.join(dir, 'exp.sweep.yaml');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const lines = (ds: { range: { start: { line: number } }; message: string }[]) => ds.map((d) => `${d.range.start.line}: ${d.message}`).join('\n');

  it('a sweep key that does not exist: did-you-mean on that key\'s line, with a rename quick fix on the key', () => {
    const text = '# varies exp.spike.yaml\nsweep:\n  grid:\n    model.depth: [1, 2]\n    train.lrr: [0.001, 0.003]\n';
    const ds = documentDiagnostics(text, sweepFile);
    assert.equal(ds.length, 1, lines(ds));
    assert.equal(ds[0].range.start.line, 4);
    assert.match(ds[0].message, /"train\.lrr" is not a config key.*Did you mean "train\.lr"\?/);
    assert.deepEqual(ds[0].fix, { title: 'Rename to train.lr', path: 'sweep.grid.train.lrr', part: 'key', replaceWith: 'train.lr', range: { start: { line: 4, character: 4 }, end: { line: 4, character: 13 } } });
    // the sweep's own keys and the file's top-level keys get the same fix
    const top = documentDiagnostics('sweep:\n  gird:\n    train.lr: [1]\nconfg: exp.spike.yaml\n', sweepFile);
    assert.deepEqual(top.map((d) => [d.range.start.line, d.fix?.replaceWith]), [[3, 'config'], [1, 'grid']]);
  });

  it('an expansion to zero runs or over the limit', () => {
    assert.match(documentDiagnostics('sweep:\n  count: 3\n', sweepFile)[0].message, /expands to no runs/);
    const big = documentDiagnostics('sweep:\n  limit: 3\n  grid:\n    train.lr: [1, 2]\n    model.depth: [1, 2]\n', sweepFile);
    assert.equal(big.length, 1, lines(big));
    assert.match(big[0].message, /expands to 4 runs, more than its limit of 3/);
    assert.equal(big[0].range.start.line, 0, 'on the sweep: key');
  });

  it('each expanded member is validated against the config it varies; the diagnostic sits on the varied key', () => {
    const ds = documentDiagnostics('sweep:\n  grid:\n    model.embed_dim: [32, 33]\n', sweepFile);
    assert.ok(ds.length >= 1 && ds.every((d) => d.message.startsWith('Sweep member 1 (model.embed_dim=33): ')), lines(ds));
    // an error of the varied key on that key's line; one of another key (num_heads must divide it) on sweep:
    assert.deepEqual(ds.filter((d) => d.path === 'model.embed_dim').map((d) => d.range.start.line), [2], lines(ds));
    assert.deepEqual(documentDiagnostics('sweep:\n  grid:\n    model.embed_dim: [32, 64]\n', sweepFile), []);
    assert.match(documentDiagnostics('sweep:\n  grid:\n    train.lr: [1]\n', path.join(dir, 'other.sweep.yaml'))[0].message, /other\.spike\.yaml cannot be read/);
  });

  it('a config: its own diagnostics, and its sweep: section\'s once the config is clean', () => {
    const file = path.join(dir, 'inline.spike.yaml');
    const sweep = 'sweep:\n  grid:\n    train.epoch: [1, 2]\n';
    const clean = documentDiagnostics(`extends: spikformer-tiny/mnist\n${sweep}`, file);
    assert.deepEqual(clean.map((d) => [d.range.start.line, d.fix?.replaceWith]), [[3, 'train.epochs']]);
    const broken = documentDiagnostics(`extends: spikformer-tiny/mnist\nmodel:\n  embed_dimm: 32\n${sweep}`, file);
    assert.deepEqual(broken.map((d) => d.path), ['model.embed_dimm'], 'the config first');
    assert.deepEqual(documentDiagnostics(`extends: spikformer-tiny/mnist\n${sweep}`, null).length, 0, 'untitled: no sweep check');
  });
});

describe('experiments table: CSV', () => {
  it('writes the config columns then the metrics, quoting where needed', () => {
    const row = {
      id: 'r1', name: 'a,b', dir: '/d', status: 'completed', slurm: null, sweepId: 'sw1', config: { 'train.lr': 0.001, 'model.neuron.surrogate': 'sig"moid' },
      bestTop1: 0.5, finalTop1: 0.25, finalLoss: 1.5, energyMj: 0.01, imgPerS: 100, params: 7600, durationS: 12.5, startedAt: 0,
    };
    const csv = tableCsv(['train.lr', 'model.neuron.surrogate'], [row]);
    const [header, line] = csv.split('\r\n');
    assert.equal(header, 'run,sweep,train.lr,model.neuron.surrogate,best top-1,final top-1,final loss,energy / image (mJ),img/s,params,duration (s),status');
    assert.equal(line, 'r1,sw1,0.001,"sig""moid",0.5,0.25,1.5,0.01,100,7600,12.5,completed');
  });
});
