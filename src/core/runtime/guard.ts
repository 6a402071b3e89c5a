// Whether the extension may start the training runtime here (pure; the extension shows the message).

/** The message shown when training is refused in an untrusted workspace (Restricted Mode). */
export const UNTRUSTED_TRAIN_MESSAGE =
  'Spike Studio: training runs Python code for this workspace, so it is disabled in Restricted Mode. Trust the workspace to train.';

/** undefined when training may start; otherwise why not (the message to show). */
export function trainingBlockedReason(workspace: { isTrusted: boolean }): string | undefined {
  return workspace.isTrusted === true ? undefined : UNTRUSTED_TRAIN_MESSAGE;
}
