// spike-studio setup [--dir D] [--python P] [--pip-arg ARG]... [--verbose]
// The same as the extension's Set Up Python Environment: a venv with the PyTorch build for this machine and numpy,
// checked by doctor, marked ready last. Default D: ./.venv (which `spike-studio train` then finds by itself).

import * as path from 'node:path';
import { setupEnvironment, type SetupProgress } from '../../core/runtime';
import { parseArgs } from '../args';
import { type CliContext, println } from '../context';

export const SETUP_USAGE =
  'spike-studio setup [--dir D] [--python P] [--pip-arg ARG]... [--verbose]   make a Python environment with PyTorch (CUDA build for this driver, else CPU) and numpy (default D: ./.venv)';

const CLEAR_LINE = '\r\x1b[2K';

/** Takes every `--pip-arg VALUE` / `--pip-arg=VALUE` out of argv (VALUE may itself start with "--"). */
export function takePipArgs(argv: readonly string[]): { pipArgs: string[]; rest: string[] } {
  const pipArgs: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--pip-arg') {
      if (i + 1 < argv.length) pipArgs.push(argv[++i]);
      else rest.push(a); // parseArgs reports it
    } else if (a.startsWith('--pip-arg=')) {
      pipArgs.push(a.slice('--pip-arg='.length));
    } else {
      rest.push(a);
    }
  }
  return { pipArgs, rest };
}

function progressLine(p: SetupProgress): string {
  return `${p.total ? `[${p.index}/${p.total}] ` : ''}${p.title}…${p.detail ? ` ${p.detail}` : ''}`;
}

export async function setupCommand(ctx: CliContext, argv: string[]): Promise<number> {
  const { pipArgs, rest } = takePipArgs(argv);
  const args = parseArgs(rest, { valueOptions: ['dir', 'python'], flags: ['verbose'] });
  if (args.flags.has('help')) return println(ctx.stdout, SETUP_USAGE), 0;
  const venvDir = path.resolve(ctx.cwd, args.options.dir ?? '.venv');
  const basePython = args.options.python ?? (process.platform === 'win32' ? 'python' : 'python3');
  const verbose = args.flags.has('verbose');
  const tty = ctx.stderr.isTTY === true;
  const width = Math.max(40, (ctx.stderr.columns ?? 100) - 1);
  let live = false;
  const clear = () => {
    if (live) ctx.stderr.write(CLEAR_LINE);
    live = false;
  };
  let lastTitle = '';
  const abort = new AbortController();
  const onSigint = () => {
    clear();
    println(ctx.stderr, 'cancelling… (the unfinished environment is not marked ready; run setup again to continue it)');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  println(ctx.stderr, `setting up ${venvDir} (venv from ${basePython}${pipArgs.length ? `; pip args: ${pipArgs.join(' ')}` : ''})`);
  let result;
  try {
    result = await setupEnvironment({
      venvDir,
      basePython,
      runtimeRoot: ctx.runtimeRoot,
      pipArgs,
      env: ctx.env,
      signal: abort.signal,
      pipArgsHint: '--pip-arg',
      onOutput: (line) => {
        if (!verbose) return;
        clear();
        println(ctx.stderr, `  ${line}`);
      },
      onProgress: (p) => {
        const line = progressLine(p);
        if (tty) {
          ctx.stderr.write(`${CLEAR_LINE}${line.slice(0, width)}`);
          live = true;
        } else if (p.title !== lastTitle) {
          println(ctx.stderr, line);
        }
        lastTitle = p.title;
      },
    });
  } finally {
    process.off('SIGINT', onSigint);
    clear();
  }
  const seconds = (result.durationMs / 1000).toFixed(1);
  const r = result.report;
  switch (result.status) {
    case 'ready':
    case 'already-ready': {
      println(ctx.stderr, `${result.status === 'ready' ? 'ready' : 'already set up'} in ${seconds} s: python ${r?.python ?? '?'}, torch ${r?.torch ?? '?'}, numpy ${r?.numpy ?? '?'}, device ${r?.device ?? '?'}`);
      const inCwd = venvDir === path.resolve(ctx.cwd, '.venv');
      println(ctx.stderr, inCwd ? 'spike-studio train uses ./.venv from this folder by itself.' : `train with: spike-studio train FILE --python ${result.python}`);
      println(ctx.stdout, result.python);
      return 0;
    }
    case 'cancelled':
      println(ctx.stderr, `cancelled after ${seconds} s (at: ${result.step ?? '?'}); nothing is marked ready`);
      return 130;
    default:
      println(ctx.stderr, `error: ${result.message ?? 'setup failed'}`);
      if (result.hint) println(ctx.stderr, `  fix: ${result.hint}`);
      if (!verbose) println(ctx.stderr, '  (run with --verbose for the full pip output)');
      return 1;
  }
}
