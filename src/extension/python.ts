// The Python extension's selected interpreter, as a soft dependency: used when ms-python.python is
// installed and the workspace is trusted; any failure just means "no answer" (findPython falls back).
import * as vscode from 'vscode';
import { PythonExtension } from '@vscode/python-extension';

const PYTHON_EXTENSION_ID = 'ms-python.python';
const TIMEOUT_MS = 10_000;

export async function pythonExtensionInterpreter(resource: vscode.Uri | undefined, log: vscode.LogOutputChannel): Promise<string | undefined> {
  if (!vscode.workspace.isTrusted || !vscode.extensions.getExtension(PYTHON_EXTENSION_ID)) return undefined;
  try {
    const lookup = (async () => {
      const api = await PythonExtension.api();
      const envPath = api.environments.getActiveEnvironmentPath(resource);
      const env = await api.environments.resolveEnvironment(envPath);
      return env?.executable.uri?.fsPath ?? envPath.path;
    })();
    const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), TIMEOUT_MS));
    const found = await Promise.race([lookup, timeout]);
    if (found === undefined) log.warn('the Python extension did not answer in time; falling back');
    return found || undefined;
  } catch (error) {
    log.warn(`could not ask the Python extension for its interpreter: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}
