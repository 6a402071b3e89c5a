// A single-node Slurm cluster for tests: munged + slurmctld + slurmd started as this process's children on this
// host, from a slurm.conf written into a temp dir (no cgroups, no accounting). Clients find it through the
// environment that `env()` returns (SLURM_CONF). Fails with a clear reason when Slurm is missing or does not come up.
//
//   const cluster = await startCluster();   // throws SlurmUnavailable with the reason
//   process.env.SLURM_CONF = cluster.conf;  // or spawn clients with cluster.env()
//   await cluster.stop();

import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export class SlurmUnavailable extends Error {}

const SBIN = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function which(name) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...SBIN]) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tail(file, n = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts the cluster. Options: cpus (default 2), minJobAge (s, default 600), timeoutMs (default 60 s).
 * Resolves to { dir, conf, node, partition, env(), run(cmd, args), stop() }.
 */
export async function startCluster(options = {}) {
  const bins = {};
  for (const name of ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'sinfo', 'scontrol', 'scancel']) {
    bins[name] = which(name);
    if (!bins[name]) {
      throw new SlurmUnavailable(`Slurm is not installed: ${name} not found (run \`bash scripts/setup.sh slurm\`: Debian's slurm-wlm and munge)`);
    }
  }
  const cpus = options.cpus ?? Math.min(2, os.cpus().length);
  const node = os.hostname().split('.')[0];
  const memMb = Math.max(256, Math.floor(os.totalmem() / 1024 / 1024) - 512);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spike-slurm-'));
  fs.chmodSync(dir, 0o755);
  for (const sub of ['state', 'spool', 'munge']) fs.mkdirSync(path.join(dir, sub), { mode: 0o700 });
  const key = path.join(dir, 'munge', 'munge.key');
  fs.writeFileSync(key, Buffer.from(Array.from({ length: 1024 }, () => Math.floor(Math.random() * 256))), { mode: 0o400 });
  const socket = path.join(dir, 'munge', 'munge.socket');
  const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
  const user = os.userInfo().username;
  const conf = path.join(dir, 'slurm.conf');
  fs.writeFileSync(
    conf,
    [
      'ClusterName=spiketest',
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      `SlurmUser=${user}`,
      `SlurmdUser=${user}`,
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/slurmctld.log`,
      `SlurmdLogFile=${dir}/slurmd.log`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/none',
      'MpiDefault=none',
      'SchedulerType=sched/backfill',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'ReturnToService=2',
      `MinJobAge=${options.minJobAge ?? 600}`,
      'JobRequeue=1',
      'KillWait=10',
      'InactiveLimit=0',
      'MailProg=/bin/true',
      'SlurmctldTimeout=30',
      'SlurmdTimeout=60',
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${memMb} State=UNKNOWN`,
      `PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'),
  );
  const env = () => ({ ...process.env, SLURM_CONF: conf });
  const children = [];
  const start = (bin, args, log) => {
    const out = fs.openSync(path.join(dir, log), 'a');
    const child = spawn(bin, args, { env: env(), stdio: ['ignore', out, out] });
    fs.closeSync(out);
    child.on('error', () => {});
    children.push(child);
    return child;
  };
  const cluster = {
    dir,
    conf,
    node,
    partition: 'debug',
    env,
    run(cmd, args) {
      return execFileSync(bins[cmd] ?? cmd, args, { env: env(), encoding: 'utf8', timeout: 30_000 });
    },
    async stop() {
      if (process.env.SPIKE_SLURM_KEEP) options.keep = true;
      for (const child of children.reverse()) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      }
      const deadline = Date.now() + 10_000;
      while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline) await sleep(100);
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (!options.keep) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  const fail = async (why) => {
    const logs = ['munged.log', 'slurmctld.log', 'slurmd.log'].map((f) => `--- ${f}\n${tail(path.join(dir, f))}`).join('\n');
    await cluster.stop();
    throw new SlurmUnavailable(`single-node Slurm did not start: ${why}\n${logs}`);
  };
  try {
    start(bins.munged, ['--foreground', '--force', `--socket=${socket}`, `--key-file=${key}`, `--pid-file=${dir}/munge/munged.pid`,
      `--seed-file=${dir}/munge/seed`, `--log-file=${dir}/munged.log`], 'munged.out');
    for (let i = 0; !fs.existsSync(socket); i++) {
      if (i > 100) return await fail(`munged made no socket at ${socket}`);
      await sleep(100);
    }
    start(bins.slurmctld, ['-D', '-i', '-f', conf], 'slurmctld.out');
    start(bins.slurmd, ['-D', '-f', conf, '-N', node], 'slurmd.out');
  } catch (error) {
    return await fail(String(error));
  }
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last = '';
  while (Date.now() < deadline) {
    const dead = children.find((c) => c.exitCode !== null || c.signalCode !== null);
    if (dead) return await fail(`${dead.spawnfile} exited (${dead.exitCode ?? dead.signalCode})`);
    try {
      last = execFileSync(bins.sinfo, ['-h', '-N', '-o', '%T'], { env: env(), encoding: 'utf8', timeout: 10_000 }).trim();
      if (/^idle/.test(last)) return cluster;
    } catch (error) {
      last = String(error.stderr ?? error);
    }
    await sleep(300);
  }
  return await fail(`the node did not become idle within ${(options.timeoutMs ?? 60_000) / 1000} s (sinfo: ${last})`);
}
