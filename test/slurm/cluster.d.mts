// Types of cluster.mjs (the single-node Slurm test cluster).
export class SlurmUnavailable extends Error {}
export interface Cluster {
  dir: string;
  conf: string;
  node: string;
  partition: string;
  env(): NodeJS.ProcessEnv;
  run(cmd: string, args: string[]): string;
  stop(): Promise<void>;
}
export function startCluster(options?: { cpus?: number; minJobAge?: number; timeoutMs?: number; keep?: boolean }): Promise<Cluster>;
