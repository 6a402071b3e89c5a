// The one place that knows which web-component kit the webviews use. Everything else creates controls
// through these helpers, so swapping @vscode/webview-ui-toolkit (deprecated upstream, still renders) for
// @vscode-elements/elements is a change to this file only. Both kits use the tag names below.
//
// CSP notes: FAST (under the toolkit) probes :focus-visible with a <style> element that carries the nonce from
// <meta property="csp-nonce">, so the host page must have that meta tag. The toolkit's badge renders an
// inline style="" attribute, which a strict style-src blocks, so badges are plain themed spans here.
import { provideVSCodeDesignSystem, vsCodeButton, vsCodeCheckbox, vsCodeDropdown, vsCodeOption } from '@vscode/webview-ui-toolkit';
import './ui.css';

let registered = false;

/** Registers the components the webviews use (and only those). Idempotent. */
export function registerUi(): void {
  if (registered) return;
  registered = true;
  provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeCheckbox(), vsCodeDropdown(), vsCodeOption());
}

export interface ButtonOptions {
  id?: string;
  /** codicon-less text button; 'secondary' for the quieter style */
  appearance?: 'primary' | 'secondary' | 'icon';
  title?: string;
  disabled?: boolean;
}

export function button(label: string, onClick: () => void, options: ButtonOptions = {}): HTMLElement {
  const el = document.createElement('vscode-button');
  el.textContent = label;
  if (options.id) el.id = options.id;
  if (options.appearance) el.setAttribute('appearance', options.appearance);
  if (options.title) el.title = options.title;
  setDisabled(el, options.disabled ?? false);
  el.addEventListener('click', () => {
    if (!el.hasAttribute('disabled')) onClick();
  });
  return el;
}

export function badge(text: string, id?: string): HTMLElement {
  const el = document.createElement('span');
  el.className = 'ui-badge';
  if (id) el.id = id;
  el.textContent = text;
  return el;
}

export function checkbox(label: string, checked: boolean, onChange: (checked: boolean) => void, id?: string): HTMLElement {
  const el = document.createElement('vscode-checkbox') as HTMLElement & { checked: boolean };
  if (id) el.id = id;
  el.textContent = label;
  el.checked = checked;
  if (checked) el.setAttribute('checked', '');
  el.addEventListener('change', () => onChange(Boolean(el.checked)));
  return el;
}

export function setDisabled(el: HTMLElement, disabled: boolean): void {
  if (disabled) el.setAttribute('disabled', '');
  else el.removeAttribute('disabled');
}

export interface Choice {
  value: string;
  label: string;
}

type DropdownEl = HTMLElement & { value: string };

/** A labelled dropdown (the kit's <vscode-dropdown>); onChange gets the chosen value. */
export function dropdown(label: string, id: string, choices: Choice[], value: string, onChange: (value: string) => void): HTMLElement {
  const wrap = document.createElement('label');
  wrap.className = 'ui-field';
  const caption = document.createElement('span');
  caption.className = 'ui-field-label';
  caption.textContent = label;
  const dd = document.createElement('vscode-dropdown') as DropdownEl;
  dd.id = id;
  wrap.append(caption, dd);
  setChoices(dd, choices, value);
  dd.addEventListener('change', () => {
    if (dd.dataset.value === dd.value) return;
    dd.dataset.value = dd.value;
    onChange(dd.value);
  });
  return wrap;
}

/** Replaces a dropdown's options (only when they differ) and selects `value`. */
export function setChoices(dd: HTMLElement, choices: Choice[], value: string): void {
  const el = dd as DropdownEl;
  const key = JSON.stringify(choices);
  if (el.dataset.choices !== key) {
    el.dataset.choices = key;
    el.replaceChildren(
      ...choices.map((c) => {
        const o = document.createElement('vscode-option');
        o.setAttribute('value', c.value);
        o.textContent = c.label;
        return o;
      }),
    );
  }
  el.dataset.value = value;
  el.setAttribute('current-value', value);
  el.value = value;
}

/** Selects a value programmatically as if the user had (fires change). */
export function choose(dd: HTMLElement, value: string): void {
  const el = dd as DropdownEl;
  el.value = value;
  el.dispatchEvent(new Event('change'));
}

/**
 * A labelled range slider. The toolkit has none, so this is a native <input type="range"> styled from the theme
 * (ui.css); onInput fires while dragging.
 */
export function slider(label: string, id: string, min: number, max: number, step: number, value: number, onInput: (value: number) => void): HTMLElement {
  const wrap = document.createElement('label');
  wrap.className = 'ui-field ui-slider';
  const caption = document.createElement('span');
  caption.className = 'ui-field-label';
  caption.textContent = label;
  const input = document.createElement('input');
  input.type = 'range';
  input.id = id;
  input.min = String(min);
  input.max = String(max);
  input.step = String(step);
  input.value = String(value);
  const out = document.createElement('span');
  out.className = 'ui-slider-value';
  out.textContent = String(value);
  input.addEventListener('input', () => {
    out.textContent = input.value;
    onInput(Number(input.value));
  });
  wrap.append(caption, input, out);
  return wrap;
}

/** Sets a checkbox's state programmatically (no change event). */
export function setChecked(el: HTMLElement, checked: boolean): void {
  (el as HTMLElement & { checked: boolean }).checked = checked;
  if (checked) el.setAttribute('checked', '');
  else el.removeAttribute('checked');
}
