// spike-studio: validate | train | resume | eval | runs | describe | import | setup, on the same src/core as the extension.

import { UsageError } from './args';
import { STOP_USAGE, stopCommand, SUBMIT_USAGE, submitCommand, SWEEP_USAGE, sweepCommand } from './commands/cluster';
import { describeCommand, DESCRIBE_USAGE } from './commands/describe';
import { evalCommand, EVAL_USAGE } from './commands/eval';
import { importCommand, IMPORT_USAGE } from './commands/import';
import { runsCommand } from './commands/runs';
import { setupCommand, SETUP_USAGE } from './commands/setup';
import { RESUME_USAGE, resumeCommand, trainCommand, TRAIN_USAGE } from './commands/train';
import { validateCommand, VALIDATE_USAGE } from './commands/validate';
import { type CliContext, defaultContext, println } from './context';

const USAGE = [
  'usage:',
  `  ${VALIDATE_USAGE}`,
  `  ${TRAIN_USAGE}`,
  `  ${RESUME_USAGE}`,
  `  ${EVAL_USAGE}`,
  '  spike-studio runs [--json]   list the runs of this folder (.spike-studio/runs)',
  `  ${DESCRIBE_USAGE}`,
  `  ${IMPORT_USAGE}`,
  `  ${SETUP_USAGE}`,
  `  ${SUBMIT_USAGE}`,
  `  ${SWEEP_USAGE}`,
  `  ${STOP_USAGE}`,
].join('\n');

type Command = (ctx: CliContext, argv: string[]) => number | Promise<number>;

const COMMANDS: Record<string, Command> = {
  validate: validateCommand,
  train: trainCommand,
  resume: resumeCommand,
  eval: evalCommand,
  runs: runsCommand,
  describe: describeCommand,
  import: importCommand,
  setup: setupCommand,
  submit: submitCommand,
  sweep: sweepCommand,
  stop: stopCommand,
};

export async function runCli(argv: string[], ctx: CliContext = defaultContext()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    println(name ? ctx.stdout : ctx.stderr, USAGE);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    println(ctx.stderr, `spike-studio: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  try {
    return await command(ctx, rest);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    println(ctx.stderr, `spike-studio ${name}: ${error.message}\n${USAGE}`);
    return 2;
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`spike-studio: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 70;
    },
  );
}
