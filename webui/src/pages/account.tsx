// SPDX-License-Identifier: GPL-3.0-or-later
// One's own account, and the password form shared with the users page.
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { PASSWORD_RULE, passwordProblem } from '../rules';
import { useSession } from '../session';
import { announce, FormError, PageTitle, PasswordField, showProblems, useCountdown } from '../ui';

type Errors = Partial<Record<'current' | 'password' | 'confirm', string>>;

// Sets `username`'s password. For one's own, the device wants the current password and then ends every session of
// the user, this one included; an admin resets another user's password without it.
export function PasswordForm(props: { username: string; onDone?: () => void; onCancel?: () => void }) {
  const session = useSession();
  const self = props.username === session.username;
  const [current, setCurrent] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);
  const [wait, startWait] = useCountdown();

  async function submit(e: Event) {
    e.preventDefault();
    const found: Errors = {};
    if (self && !current) found.current = 'Enter your current password.';
    const bad = passwordProblem(password, props.username);
    if (bad) found.password = bad;
    else if (password !== confirm) found.confirm = 'The two passwords differ.';
    if (showProblems(found, setErrors, setFormError)) return;
    setBusy(true);
    try {
      const body = self ? { password, current_password: current } : { password };
      await api('PATCH', `/api/v1/users/${encodeURIComponent(props.username)}`, body);
      if (self) {
        await session.signOut('Your password was changed. Log in with the new one.');
        return;
      }
      announce(`The password of ${props.username} was changed; their sessions have ended.`);
      props.onDone?.();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.code === 'wrong_password') setErrors({ current: 'This is not your current password.' });
      else if (err.code === 'weak_password') setErrors({ password: err.message });
      else if (err.code === 'locked_out') startWait(err.retryAfter);
      else setFormError(err.message);
      announce(err.message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate>
      {self && (
        <PasswordField
          label="Current password"
          name="current_password"
          autocomplete="current-password"
          value={current}
          onValue={setCurrent}
          error={wait > 0 ? `Too many failed attempts: try again in ${wait} s.` : errors.current}
        />
      )}
      <PasswordField
        label="New password"
        name="password"
        autocomplete="new-password"
        value={password}
        onValue={setPassword}
        error={errors.password}
        hint={PASSWORD_RULE}
      />
      <PasswordField
        label="New password again"
        name="confirm"
        autocomplete="new-password"
        value={confirm}
        onValue={setConfirm}
        error={errors.confirm}
      />
      {formError && <FormError>{formError}</FormError>}
      {self && <p class="hint">Changing your password logs you out everywhere, here too.</p>}
      <div class="actions">
        {props.onCancel && (
          <button type="button" class="ghost" onClick={props.onCancel}>
            Cancel
          </button>
        )}
        <button type="submit" class="primary" disabled={busy || wait > 0}>
          Change password
        </button>
      </div>
    </form>
  );
}

export function AccountPage() {
  const session = useSession();
  return (
    <div class="narrow">
      <PageTitle>Your account</PageTitle>
      <div class="card">
        <dl class="facts">
          <dt>User name</dt>
          <dd>{session.username}</dd>
          <dt>Role</dt>
          <dd>{session.role}</dd>
        </dl>
      </div>
      <section class="card" aria-labelledby="password-title">
        <h2 id="password-title">Change password</h2>
        <PasswordForm username={session.username} />
      </section>
    </div>
  );
}
