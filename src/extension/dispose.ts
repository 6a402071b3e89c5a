// The one Disposable pattern of the extension (as in VS Code core and the custom-editor sample):
// a base class whose _register() collects children that are disposed together with it.
import type * as vscode from 'vscode';

export interface IDisposable {
  dispose(): unknown;
}

export function disposeAll(disposables: IDisposable[]): void {
  while (disposables.length) {
    const d = disposables.pop();
    try {
      d?.dispose();
    } catch {
      // keep disposing the rest
    }
  }
}

export abstract class Disposable implements vscode.Disposable {
  private _isDisposed = false;
  protected readonly _disposables: IDisposable[] = [];

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) return;
    this._isDisposed = true;
    disposeAll(this._disposables);
  }

  /** Takes ownership of a disposable; disposes it at once when this object is already disposed. */
  protected _register<T extends IDisposable>(value: T): T {
    if (this._isDisposed) value.dispose();
    else this._disposables.push(value);
    return value;
  }
}

/** A disposable that runs a function once. */
export function toDisposable(fn: () => void): IDisposable {
  let done = false;
  return {
    dispose: () => {
      if (!done) {
        done = true;
        fn();
      }
    },
  };
}
