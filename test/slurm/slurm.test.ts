// Train on Cluster against a real single-node Slurm (Debian's slurm-wlm + munge, started by cluster.mjs):
// queue states, Stop → checkpoint → stopped, time limit → requeue → bitwise-identical resume, a sweep as a job array.
// Run: npx mocha --config test/slurm/.mocharc.json   (scripts/test.sh layer `slurm`)

import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readJobRecord, refreshJob, stopJob, type SlurmJobRecord } from '../../src/core/cluster/slurm';
import { prepareClusterRun, submitPrepared, submitSweepArray, type ClusterTarget } from '../../src/core/cluster/submit';
import { loadSweep } from '../../src/core/cluster/sweep';
import { loadConfig, type ResolvedConfig } from '../../src/core/config';
import { readEvents } from '../../src/core/runs/events';
import { readRun } from '../../src/core/runs/runs';
import { buildTable } from '../../src/core/runs/table';

const ROOT = path.resolve(__dirname, '..', '..');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const RUNTIME = path.join(ROOT, 'runtime');
const TINY = path.join(__dirname, 'tiny.spike.yaml');

type Cluster = Awaited<ReturnType<typeof import('./cluster.mjs').startCluster>>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function resolvedOf(file: string, overrides = ''): ResolvedConfig {
  const text = fs.readFileSync(file, 'utf8') + overrides;
  const { resolved, diagnostics } = loadConfig(text, file);
  assert.ok(resolved, diagnostics.map((d) => d.message).join('\n'));
  return resolved;
}

function stepLosses(runDir: string): Map<number, number> {
  const out = new Map<number, number>(); // the last occurrence wins: a resumed segment supersedes steps after its checkpoint
  for (const e of readEvents(path.join(runDir, 'events.jsonl')).events) if (e.type === 'step') out.set(e.step, e.loss);
  return out;
}

/** Trains a resolved config here (uninterrupted, one thread); resolves when it completed. */
function trainHere(resolved: ResolvedConfig, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.resolved.json'), JSON.stringify(resolved));
  return new Promise<void>((resolve, reject) => {
    const child = spawn(PYTHON, ['-m', 'spikestudio', 'train', '--config', path.join(dir, 'config.resolved.json'), '--run-dir', dir], {
      env: { ...process.env, PYTHONPATH: RUNTIME, OMP_NUM_THREADS: '1' }, stdio: 'ignore',
    });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`training in ${dir} exited ${code}`))));
  });
}

describe('Slurm (single-node cluster on this machine)', function () {
  this.timeout(240_000);
  let cluster: Cluster;
  let work: string;
  let target: ClusterTarget;

  before(async function () {
    this.timeout(90_000);
    const { startCluster } = await import('./cluster.mjs');
    cluster = await startCluster(); // throws SlurmUnavailable with the reason (not installed, did not start)
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'spike-slurm-work-'));
    target = {
      profile: { partition: cluster.partition, cpus: 1, time: '10', grace: 30 },
      cluster: 'test',
      python: PYTHON,
      runtimeRoot: RUNTIME,
      env: { ...cluster.env(), OMP_NUM_THREADS: '1' },
    };
  });

  after(async () => {
    await cluster?.stop();
    if (work && !process.env.SPIKE_SLURM_KEEP) fs.rmSync(work, { recursive: true, force: true });
    else if (work) console.log(`kept ${work}`);
  });

  /** Polls the job (as the extension does) until `until` holds; returns every state seen, in order. */
  async function follow(runDir: string, until: (r: SlurmJobRecord) => boolean, onRecord?: (r: SlurmJobRecord) => void | Promise<void>, timeoutMs = 180_000): Promise<string[]> {
    const seen: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const record = await refreshJob(runDir, { env: target.env });
      assert.ok(record, 'no slurm/job.json');
      const label = record.state === 'PENDING' ? `PENDING(${record.reason})` : String(record.state);
      if (seen[seen.length - 1] !== label) seen.push(label);
      await onRecord?.(record);
      if (until(record)) return seen;
      if (Date.now() > deadline) assert.fail(`job ${record.jobId} still ${label} after ${timeoutMs / 1000} s; seen ${seen.join(' → ')}\n${cluster.run('scontrol', ['show', 'job', record.jobId])}`);
      await sleep(500);
    }
  }

  it('submits a run and follows it PENDING (held) → RUNNING (with its node) → COMPLETED, keeping the final state', async () => {
    const prepared = prepareClusterRun(work, resolvedOf(TINY), { ...target, sbatchArgs: ['--hold'] }, path.join(work, 'runs'));
    const script = fs.readFileSync(prepared.script, 'utf8');
    assert.match(script, /#SBATCH --partition=debug/);
    const jobId = await submitPrepared(prepared, { ...target, sbatchArgs: ['--hold'] });
    const held = await refreshJob(prepared.run.dir, { env: target.env });
    assert.equal(held?.state, 'PENDING');
    assert.match(String(held?.reason), /Held/i);
    assert.equal(readRun(prepared.run.dir).status, 'running'); // queued counts as running, not failed
    cluster.run('scontrol', ['release', jobId]);
    let nodes = '';
    const seen = await follow(prepared.run.dir, (r) => !!r.final, (r) => {
      if (r.state === 'RUNNING') nodes = r.nodes ?? '';
    });
    assert.ok(seen.indexOf('RUNNING') > 0 || seen.includes('COMPLETED'), seen.join(' → '));
    if (seen.includes('RUNNING')) assert.equal(nodes, cluster.node);
    const record = readJobRecord(prepared.run.dir)!;
    assert.equal(record.state, 'COMPLETED');
    assert.equal(record.final, true);
    const run = readRun(prepared.run.dir);
    assert.equal(run.status, 'completed');
    assert.ok(fs.existsSync(path.join(prepared.run.dir, 'slurm', `slurm-${jobId}.err`)));
  });

  it('Stop: scancel --signal=USR1 --batch → checkpoint at the next step → stopped, not requeued', async () => {
    const resolved = resolvedOf(TINY); // the tiny run, longer
    resolved.train.epochs = 50;
    const prepared = prepareClusterRun(work, resolved, target, path.join(work, 'runs'));
    await submitPrepared(prepared, target);
    const events = path.join(prepared.run.dir, 'events.jsonl');
    await follow(prepared.run.dir, () => readEvents(events).events.some((e) => e.type === 'step'));
    await stopJob(prepared.run.dir, { env: target.env });
    await follow(prepared.run.dir, (r) => !!r.final);
    const run = readRun(prepared.run.dir);
    assert.equal(run.status, 'stopped', run.failure ?? '');
    assert.ok(fs.existsSync(path.join(prepared.run.dir, 'checkpoints', 'last.pt')));
    assert.equal(readJobRecord(prepared.run.dir)?.state, 'COMPLETED');
    assert.equal(readEvents(events).events.filter((e) => e.type === 'hello').length, 1, 'a stopped run is not requeued');
    assert.ok(run.summary.done && run.summary.done.epochs_completed < 50);
  });

  it('a run with a one-minute time limit checkpoints, requeues and finishes bit-identical to an uninterrupted run', async function () {
    this.timeout(360_000);
    const resolved = resolvedOf(TINY);
    resolved.train.max_steps_per_epoch = 16;
    resolved.data.limit_train = 512;
    resolved.model.embed_dim = 32;
    resolved.model.time_steps = 4;
    // USR1 comes 25–55 s into a segment (below): the run must train longer than that whatever this machine's speed
    // and load, and not much longer (each segment costs a minute). Time one epoch here, then size the run to ~70 s.
    const calib = path.join(work, 'calib');
    await trainHere({ ...resolved, train: { ...resolved.train, epochs: 1 } }, calib);
    const steps = readEvents(path.join(calib, 'events.jsonl')).events.filter((e) => e.type === 'step');
    const perEpoch = Math.max(0.05, steps[steps.length - 1].t - steps[0].t) * (16 / 15);
    // no small cap: on a quiet machine an epoch takes a fraction of a second, and a capped run ended before USR1 came
    resolved.train.epochs = Math.min(2000, Math.max(2, Math.ceil(70 / perEpoch)));
    // the uninterrupted reference, here (same Python, one thread), while the job runs
    const refDir = path.join(work, 'ref');
    const refDone = trainHere(resolved, refDir);
    // slurmctld checks time limits every 30 s and signals when the time left is ≤ grace + 30 s: with a one-minute
    // limit and grace 5, USR1 comes 25–55 s into each segment, and the limit itself a 30-s tick later
    const limited: ClusterTarget = { ...target, profile: { ...target.profile, time: '1', grace: 5 } };
    const prepared = prepareClusterRun(work, resolved, limited, path.join(work, 'runs'));
    assert.match(fs.readFileSync(prepared.script, 'utf8'), /#SBATCH --time=1\n/);
    const jobId = await submitPrepared(prepared, limited);
    let heldSince = 0;
    const seen = await follow(prepared.run.dir, (r) => !!r.final, (r) => {
      // Slurm holds a requeued job back 120 s (BeginTime) so that the old allocation is cleaned up first; the test
      // starts it as soon as the node is idle again (earlier, slurmd refuses the launch: "Job credential revoked")
      if (r.state !== 'PENDING' || r.reason !== 'BeginTime') return void (heldSince = 0);
      heldSince ||= Date.now();
      const idle = /^idle/.test(spawnSync('sinfo', ['-h', '-N', '-o', '%T'], { env: target.env, encoding: 'utf8' }).stdout.trim());
      if (idle && Date.now() - heldSince > 3000) spawnSync('scontrol', ['update', `JobId=${jobId}`, 'StartTime=now'], { env: target.env });
    }, 330_000);
    await refDone;
    const events = readEvents(path.join(prepared.run.dir, 'events.jsonl')).events;
    const requeued = events.filter((e) => e.type === 'requeued');
    assert.ok(requeued.length >= 1, `no requeued event; states ${seen.join(' → ')}`);
    assert.equal(readRun(prepared.run.dir).status, 'completed');
    const got = stepLosses(prepared.run.dir);
    const want = stepLosses(refDir);
    assert.equal(got.size, resolved.train.epochs * 16);
    assert.deepEqual([...got.entries()].sort((a, b) => a[0] - b[0]), [...want.entries()].sort((a, b) => a[0] - b[0]));
  });

  it('runs a 4-member grid sweep as one job array; each member is a run dir grouped under the sweep', async () => {
    const file = path.join(__dirname, 'tiny.sweep.yaml');
    const sweep = loadSweep(fs.readFileSync(file, 'utf8'), file);
    assert.equal(sweep.members.length, 4, sweep.diagnostics.map((d) => d.message).join('\n'));
    for (const m of sweep.members) m.resolved.train.epochs = 1;
    const started = await submitSweepArray(work, file, sweep.members, target, { runsDir: path.join(work, 'sweep-runs') });
    assert.match(fs.readFileSync(started.script, 'utf8'), /#SBATCH --array=0-3/);
    for (const run of started.runs) await follow(run.dir, (r) => !!r.final);
    const runs = started.runs.map((r) => readRun(r.dir));
    assert.deepEqual(runs.map((r) => r.status), ['completed', 'completed', 'completed', 'completed']);
    assert.deepEqual(runs.map((r) => r.slurm?.jobId), [0, 1, 2, 3].map((i) => `${started.jobId}_${i}`));
    const table = buildTable(runs);
    assert.deepEqual(table.groups.map((g) => [g.sweepId, g.rows.length]), [[started.record.id, 4]]);
    assert.deepEqual(new Set(table.configColumns), new Set(['train.lr', 'model.depth']));
    const record = JSON.parse(fs.readFileSync(path.join(started.dir, 'sweep.json'), 'utf8'));
    assert.equal(record.members.length, 4);
    assert.equal(record.jobId, started.jobId);
  });
});
