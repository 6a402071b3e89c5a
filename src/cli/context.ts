// What every command gets: where to write, where it runs, where the runtime lives.

import * as fs from 'node:fs';
import * as path from 'node:path';

export interface CliContext {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** <package root>/runtime */
  runtimeRoot: string;
}

/** dist/cli.js → package root is `..`; when run from source (src/cli) it is `../..`. */
export function findPackageRoot(fromDir: string): string {
  for (const candidate of [path.resolve(fromDir, '..'), path.resolve(fromDir, '..', '..')]) {
    if (fs.existsSync(path.join(candidate, 'package.json')) && fs.existsSync(path.join(candidate, 'runtime'))) return candidate;
  }
  return path.resolve(fromDir, '..');
}

export function defaultContext(): CliContext {
  const packageRoot = findPackageRoot(__dirname);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.cwd(),
    env: process.env,
    runtimeRoot: process.env.SPIKE_STUDIO_RUNTIME_ROOT || path.join(packageRoot, 'runtime'),
  };
}

export function println(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(text + '\n');
}
