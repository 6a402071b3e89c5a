// "Python → doctor → run dir → spawn": the one way Train, Resume Run and `spike-studio train` start the runtime.

import type { CreatedRun } from '../runs';
import type { DoctorReport, RunDoctorOptions } from './doctor';
import { startTraining, type TrainingProcess } from './process';
import { findPython, type FindPythonOptions, type FoundPython } from './python';
import { checkPython, isInterpreterUsable } from './setupEnvironment';

export interface LaunchTrainingOptions {
  /** where to look for the interpreter (setting / --python, the Python extension, env, .venv) */
  python: FindPythonOptions;
  /** folder holding the `spikestudio` package */
  runtimeRoot: string;
  /** the training's working directory (the workspace root) */
  cwd: string;
  /** how doctor runs (its environment, its cwd) */
  doctor?: RunDoctorOptions;
  /** wraps the doctor run, e.g. in a progress indicator */
  aroundDoctor?: (check: () => Promise<DoctorReport>) => PromiseLike<DoctorReport>;
  /** told the interpreter before doctor runs */
  onPython?: (python: FoundPython) => void;
  /** told every doctor report; one that is not `isInterpreterUsable` (the one rule) stops the launch */
  onDoctorReport?: (report: DoctorReport, python: FoundPython) => void;
  /** the run folder, asked for once doctor passed (a new one, or the run to resume); null: none, the caller said why */
  runDir: () => CreatedRun | null;
  /** continue the run from checkpoints/last.pt */
  resume?: boolean;
  /** extra environment variables of the training */
  env?: NodeJS.ProcessEnv;
  /** extra arguments of `python -m spikestudio train` (e.g. --nproc N) */
  extraArgs?: string[];
}

export type LaunchResult =
  | { kind: 'started'; python: FoundPython; report: DoctorReport; run: CreatedRun; proc: TrainingProcess }
  | { kind: 'doctor-failed'; python: FoundPython; report: DoctorReport }
  | { kind: 'no-run-dir'; python: FoundPython; report: DoctorReport };

export async function launchTraining(options: LaunchTrainingOptions): Promise<LaunchResult> {
  const python = findPython(options.python);
  options.onPython?.(python);
  const check = () => checkPython(python.path, options.runtimeRoot, options.doctor);
  const report = await (options.aroundDoctor ? options.aroundDoctor(check) : check());
  options.onDoctorReport?.(report, python);
  if (!isInterpreterUsable(report)) return { kind: 'doctor-failed', python, report };
  const run = options.runDir();
  if (!run) return { kind: 'no-run-dir', python, report };
  // detached: the run outlives a window reload, and the CLI turns a terminal's Ctrl-C into `stop`
  const proc = startTraining({
    python: python.path,
    runtimeRoot: options.runtimeRoot,
    resolvedConfigPath: run.configPath,
    runDir: run.dir,
    cwd: options.cwd,
    env: options.env,
    resume: options.resume,
    extraArgs: options.extraArgs,
    detached: true,
  });
  return { kind: 'started', python, report, run, proc };
}
