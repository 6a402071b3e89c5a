// Completions in *.spike.yaml (the core's completionsAt): keys of the current section, enum and boolean
// values, dataset names, and preset names after `extends:`.
import * as vscode from 'vscode';
import { completionsAt, type CompletionEntry } from '../../core/config';
import { isSpikeConfig, SPIKE_CONFIG_SELECTOR } from '../config';

export const COMPLETION_TRIGGERS = [':', ' '];

/** A value or key token: preset names hold '/', '-' and '.'. */
const TOKEN = /[\w./-]+/;

const KINDS: Record<CompletionEntry['kind'], vscode.CompletionItemKind> = {
  key: vscode.CompletionItemKind.Property,
  section: vscode.CompletionItemKind.Module,
  value: vscode.CompletionItemKind.EnumMember,
  preset: vscode.CompletionItemKind.Reference,
};

export class ConfigCompletionProvider implements vscode.CompletionItemProvider {
  static register(provider: ConfigCompletionProvider): vscode.Disposable {
    return vscode.languages.registerCompletionItemProvider(SPIKE_CONFIG_SELECTOR, provider, ...COMPLETION_TRIGGERS);
  }

  provideCompletionItems(doc: vscode.TextDocument, position: vscode.Position): vscode.CompletionItem[] {
    if (!isSpikeConfig(doc)) return [];
    const entries = completionsAt(doc.getText(), position.line, position.character);
    if (entries.length === 0) return [];
    const before = doc.lineAt(position.line).text.slice(0, position.character);
    const afterColon = /:$/.test(before); // "key:|" → insert "key: value"
    const word = doc.getWordRangeAtPosition(position, TOKEN);
    const range = word && word.start.isBefore(position) ? new vscode.Range(word.start, position) : undefined;
    return entries.map((entry, index) => {
      const item = new vscode.CompletionItem(entry.label, KINDS[entry.kind]);
      const isValue = entry.kind === 'value' || entry.kind === 'preset';
      item.insertText = isValue && afterColon ? ` ${entry.insertText}` : entry.insertText;
      if (range) item.range = range;
      if (entry.detail) item.detail = entry.detail;
      if (entry.documentation) item.documentation = new vscode.MarkdownString(entry.documentation);
      item.sortText = String(index).padStart(4, '0');
      if (entry.kind === 'section' || (entry.kind === 'key' && entry.insertText.endsWith(': '))) {
        // after "key: " offer the values at once
        item.command = { title: 'Suggest values', command: 'editor.action.triggerSuggest' };
      }
      return item;
    });
  }
}
