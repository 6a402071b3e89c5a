// Editor support for *.spike.yaml: hovers, quick fixes and completions (the import command is in the command
// table, commands.ts).
import type { Ctx } from '../ctx';
import { ConfigCodeActionProvider } from './codeActions';
import { ConfigCompletionProvider } from './completion';
import { ConfigHoverProvider } from './hover';

export { importReferenceConfigCommand } from './importConfig';

export function registerAuthoring(ctx: Ctx): void {
  const hover = ctx.own(new ConfigHoverProvider(ctx.runs));
  ctx.own(ConfigHoverProvider.register(hover));
  ctx.own(ConfigCodeActionProvider.register(new ConfigCodeActionProvider((doc) => ctx.diagnostics.current(doc))));
  ctx.own(ConfigCompletionProvider.register(new ConfigCompletionProvider()));
}
