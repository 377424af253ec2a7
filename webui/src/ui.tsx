// SPDX-License-Identifier: GPL-3.0-or-later
// Building blocks shared by the pages: labelled fields, errors, dialogs, the status live region, countdowns.
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiError, ROLES, type Role } from './api';

// The status region: one polite live region for the whole app, so a screen reader hears what happened.
let setStatusText: (text: string) => void = () => {};
let statusSerial = 0;

export function announce(text: string): void {
  statusSerial += 1;
  setStatusText(text);
  const serial = statusSerial;
  window.setTimeout(() => serial === statusSerial && setStatusText(''), 6000);
}

export function StatusRegion() {
  const [text, setText] = useState('');
  useEffect(() => {
    setStatusText = setText;
  }, []);
  return (
    <div class={text ? 'toast visible' : 'toast'} role="status" aria-live="polite">
      {text}
    </div>
  );
}

export interface FieldAria {
  id: string;
  'aria-invalid'?: true;
  'aria-describedby'?: string;
}

// A label, its control (given by `children` with the ids it must carry), a hint and an error.
export function Field(props: {
  label: ComponentChildren;
  hint?: ComponentChildren;
  error?: string | null;
  check?: boolean; // a checkbox: the control before its label
  class?: string;
  children: (aria: FieldAria) => ComponentChildren;
}) {
  const id = useId();
  const hintId = props.hint ? `${id}-hint` : '';
  const errorId = props.error ? `${id}-error` : '';
  const describedBy = [errorId, hintId].filter(Boolean).join(' ');
  const aria: FieldAria = { id };
  if (props.error) aria['aria-invalid'] = true;
  if (describedBy) aria['aria-describedby'] = describedBy;
  const label = <label for={id}>{props.label}</label>;
  return (
    <div
      class={['field', props.check && 'field-check', props.error && 'invalid', props.class].filter(Boolean).join(' ')}
    >
      {props.check ? (
        <>
          {props.children(aria)}
          {label}
        </>
      ) : (
        <>
          {label}
          {props.children(aria)}
        </>
      )}
      {props.error && (
        <p class="field-error" id={errorId}>
          {props.error}
        </p>
      )}
      {props.hint && (
        <p class="hint" id={hintId}>
          {props.hint}
        </p>
      )}
    </div>
  );
}

// Shows what a form's own checks found (each beside its field, the first also announced) and clears the form-wide
// error; true if anything was found, so the caller does not send.
export function showProblems<E extends Record<string, string | undefined>>(
  found: E,
  setErrors: (errors: E) => void,
  setFormError: (error: string) => void,
): boolean {
  setErrors(found);
  setFormError('');
  const first = Object.values(found).find(Boolean);
  if (first) announce(first);
  return first !== undefined;
}

// Shows what the device refused a form for: beside the field its error code names (`fields`: code → the field, or
// the field and the text to show instead of the device's message), else for the whole form; announced either way.
export function showRefusal<K extends string>(
  err: unknown,
  fields: Record<string, K | [K, string]>,
  setErrors: (errors: Partial<Record<K, string>>) => void,
  setFormError: (error: string) => void,
): void {
  if (!(err instanceof ApiError)) throw err;
  const target = fields[err.code];
  if (target === undefined) {
    setFormError(err.message);
  } else {
    const [field, text] = Array.isArray(target) ? target : [target, err.message];
    setErrors({ [field]: text } as Partial<Record<K, string>>);
  }
  announce(err.message);
}

// A password input with its label, hint and error: the browser's password manager keys on `autocomplete`.
export function PasswordField(props: {
  label: string;
  name: string;
  autocomplete: 'current-password' | 'new-password';
  value: string;
  onValue: (value: string) => void;
  error?: string | null;
  hint?: ComponentChildren;
  required?: boolean;
}) {
  return (
    <Field label={props.label} error={props.error} hint={props.hint}>
      {(aria) => (
        <input
          {...aria}
          type="password"
          name={props.name}
          autocomplete={props.autocomplete}
          required={props.required}
          value={props.value}
          onInput={(e) => props.onValue(e.currentTarget.value)}
        />
      )}
    </Field>
  );
}

export function FormError(props: { children: ComponentChildren }) {
  return (
    <p class="form-error" role="alert">
      {props.children}
    </p>
  );
}

// A page's heading, which takes the focus when the page opens so that keyboard and screen reader users start there.
export function PageTitle(props: { children: string; actions?: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus({ preventScroll: true });
  }, []);
  return (
    <div class="page-head">
      <h1 tabIndex={-1} ref={ref}>
        {props.children}
      </h1>
      {props.actions && <div class="page-actions">{props.actions}</div>}
    </div>
  );
}

// A modal dialog (the native <dialog>: focus trap, Escape to close).
export function Dialog(props: { title: string; onClose: () => void; class?: string; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  return (
    <dialog ref={ref} class={props.class} aria-labelledby={titleId} onClose={props.onClose}>
      <div class="dialog-head">
        <h2 id={titleId}>{props.title}</h2>
        <button type="button" class="icon-button" aria-label="Close" onClick={() => ref.current?.close()}>
          ×
        </button>
      </div>
      {props.children}
    </dialog>
  );
}

// A dialog that asks before something that cannot be undone: `confirm` runs on the danger button and throws to
// show an error (`errorOf` words it; the API's message otherwise), after which the user may try again or cancel.
export function ConfirmDialog(props: {
  title: string;
  action: string;
  onClose: () => void;
  confirm: () => Promise<void>;
  errorOf?: (e: unknown) => string;
  children: ComponentChildren;
}) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  async function run() {
    setBusy(true);
    try {
      await props.confirm();
    } catch (e) {
      setError(props.errorOf?.(e) ?? errorText(e));
      setBusy(false);
    }
  }
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      {props.children}
      {error && <FormError>{error}</FormError>}
      <div class="actions">
        <button type="button" class="ghost" onClick={props.onClose}>
          Cancel
        </button>
        <button type="button" class="danger" disabled={busy} onClick={() => void run()}>
          {props.action}
        </button>
      </div>
    </Dialog>
  );
}

// The role picker of a form, with its label, hint and error.
export function RoleSelect(props: {
  value: Role;
  onValue: (role: Role) => void;
  hint: ComponentChildren;
  error?: string;
}) {
  return (
    <Field label="Role" error={props.error} hint={props.hint}>
      {(aria) => (
        <select
          {...aria}
          name="role"
          value={props.value}
          onChange={(e) => props.onValue(e.currentTarget.value as Role)}
        >
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

// Seconds left of a lockout, counting down once a second; start(n) begins a new count.
export function useCountdown(): [number, (seconds: number) => void] {
  const [left, setLeft] = useState(0);
  useEffect(() => {
    if (left <= 0) return;
    const timer = window.setTimeout(() => setLeft(left - 1), 1000);
    return () => window.clearTimeout(timer);
  }, [left]);
  return [left, (seconds: number) => setLeft(Math.max(1, Math.ceil(seconds)))];
}

// Calls `load` now and every `ms` while the page is visible, and at once when it becomes visible again.
export function usePolling(load: () => void, ms: number): void {
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    latest.current();
    const timer = window.setInterval(() => document.visibilityState === 'visible' && latest.current(), ms);
    const onVisible = () => document.visibilityState === 'visible' && latest.current();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      window.clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [ms]);
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
