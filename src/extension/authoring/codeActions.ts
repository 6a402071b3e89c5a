// Quick fixes for the config diagnostics: each core ConfigDiagnostic with a `fix` becomes a QuickFix that
// replaces the key or value at the fix's range, or (range null: the file does not write the key) inserts
// `key: value` under its section, creating the section when it is missing.
import * as vscode from 'vscode';
import type { ConfigDiagnostic, ConfigFix, Range } from '../../core/config';
import { isValidatedDocument, VALIDATED_SELECTOR } from '../config';
import { DIAGNOSTIC_SOURCE, toVscodeDiagnostic } from '../diagnostics';
import { planKeyInsertion } from './insert';

export function toVscodeRange(r: Range): vscode.Range {
  return new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
}

/** The workspace edit of a fix, or undefined when it cannot be applied to this text. */
export function fixEdit(doc: vscode.TextDocument, fix: ConfigFix): vscode.WorkspaceEdit | undefined {
  const edit = new vscode.WorkspaceEdit();
  if (fix.range) {
    edit.replace(doc.uri, toVscodeRange(fix.range), fix.replaceWith);
    return edit;
  }
  if (fix.part === 'key') return undefined; // renaming a key that is not written: nothing to do
  const insertion = planKeyInsertion(doc.getText(), fix.path, fix.replaceWith);
  if (!insertion) return undefined;
  edit.insert(doc.uri, new vscode.Position(insertion.line, insertion.character), insertion.text);
  return edit;
}

function sameDiagnostic(v: vscode.Diagnostic, d: ConfigDiagnostic): boolean {
  return v.source === DIAGNOSTIC_SOURCE && v.message === d.message && v.range.isEqual(toVscodeRange(d.range));
}

export class ConfigCodeActionProvider implements vscode.CodeActionProvider {
  static readonly metadata: vscode.CodeActionProviderMetadata = { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] };

  /** `current` gives the core diagnostics (with fixes) of the document's current text. */
  constructor(private readonly current: (doc: vscode.TextDocument) => ConfigDiagnostic[]) {}

  static register(provider: ConfigCodeActionProvider): vscode.Disposable {
    return vscode.languages.registerCodeActionsProvider(VALIDATED_SELECTOR, provider, ConfigCodeActionProvider.metadata);
  }

  provideCodeActions(doc: vscode.TextDocument, range: vscode.Range | vscode.Selection, context: vscode.CodeActionContext): vscode.CodeAction[] {
    if (!isValidatedDocument(doc)) return [];
    if (context.only && !context.only.contains(vscode.CodeActionKind.QuickFix) && !vscode.CodeActionKind.QuickFix.contains(context.only)) return [];
    const actions: vscode.CodeAction[] = [];
    const seen = new Set<string>();
    for (const d of this.current(doc)) {
      if (!d.fix) continue;
      const diagnosticRange = toVscodeRange(d.range);
      const shown = context.diagnostics.find((v) => sameDiagnostic(v, d));
      if (!shown && !diagnosticRange.intersection(range)) continue;
      const key = `${d.fix.title}\u0000${d.fix.path}\u0000${d.fix.replaceWith}`;
      if (seen.has(key)) continue;
      const edit = fixEdit(doc, d.fix);
      if (!edit) continue;
      seen.add(key);
      const action = new vscode.CodeAction(d.fix.title, vscode.CodeActionKind.QuickFix);
      action.edit = edit;
      action.diagnostics = [shown ?? toVscodeDiagnostic(d)];
      action.isPreferred = true;
      actions.push(action);
    }
    return actions;
  }
}
