// SPDX-License-Identifier: GPL-3.0-or-later
// First start: the owner proves physical access with the one-time claim code and creates the first admin.
import { useState } from 'preact/hooks';
import { api, ApiError, type Session } from '../api';
import { PASSWORD_RULE, passwordProblem, USERNAME_RULE, usernameProblem } from '../rules';
import { announce, Field, FormError, PageTitle, PasswordField, showProblems, useCountdown } from '../ui';

type Errors = Partial<Record<'code' | 'username' | 'password' | 'confirm', string>>;

export function ClaimPage(props: { onSignedIn: (session: Session) => void; onAlreadyClaimed: () => void }) {
  const [code, setCode] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);
  const [wait, startWait] = useCountdown();

  async function submit(e: Event) {
    e.preventDefault();
    const found: Errors = {};
    if (!code.trim()) found.code = 'Enter the claim code.';
    const badName = usernameProblem(username);
    if (badName) found.username = badName;
    const badPassword = passwordProblem(password, username);
    if (badPassword) found.password = badPassword;
    else if (password !== confirm) found.confirm = 'The two passwords differ.';
    if (showProblems(found, setErrors, setFormError)) return;
    setBusy(true);
    try {
      props.onSignedIn(await api<Session>('POST', '/api/v1/claim', { code, username, password }));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const field: Errors = {};
      if (err.code === 'wrong_code') field.code = 'That is not the code this device printed. Check it and try again.';
      else if (err.code === 'invalid_username') field.username = err.message;
      else if (err.code === 'weak_password') field.password = err.message;
      else if (err.code === 'locked_out') startWait(err.retryAfter);
      else if (err.code === 'already_claimed') return props.onAlreadyClaimed();
      else setFormError(err.message);
      setErrors(field);
      announce(
        err.code === 'locked_out' ? `Too many wrong codes. Try again in ${err.retryAfter} seconds.` : err.message,
      );
    } finally {
      setBusy(false);
    }
  }

  const codeError = wait > 0 ? `Too many wrong codes from this address: try again in ${wait} s.` : errors.code;
  return (
    <div class="narrow">
      <PageTitle>Set up this camera</PageTitle>
      <div class="card">
        <p>
          Nobody owns this camera yet. Enter the one-time claim code and choose the name and password of its first
          administrator.
        </p>
        <form onSubmit={submit} noValidate>
          <Field
            label="Claim code"
            error={codeError}
            hint={
              <>
                Printed on the device console and in its log at every start, as{' '}
                <code>event=claim.open claim_code=…</code> (for example{' '}
                <code>journalctl -u freeholdd | grep claim.open</code>). Case, dashes and spaces do not matter.
              </>
            }
          >
            {(aria) => (
              <input
                {...aria}
                name="code"
                autocomplete="off"
                autocapitalize="characters"
                spellcheck={false}
                required
                value={code}
                onInput={(e) => setCode(e.currentTarget.value)}
              />
            )}
          </Field>
          <Field label="User name" error={errors.username} hint={USERNAME_RULE}>
            {(aria) => (
              <input
                {...aria}
                name="username"
                autocomplete="username"
                autocapitalize="none"
                spellcheck={false}
                required
                value={username}
                onInput={(e) => setUsername(e.currentTarget.value)}
              />
            )}
          </Field>
          <PasswordField
            label="Password"
            name="password"
            autocomplete="new-password"
            value={password}
            onValue={setPassword}
            error={errors.password}
            hint={PASSWORD_RULE}
            required
          />
          <PasswordField
            label="Password again"
            name="confirm"
            autocomplete="new-password"
            value={confirm}
            onValue={setConfirm}
            error={errors.confirm}
            required
          />
          {formError && <FormError>{formError}</FormError>}
          <div class="actions">
            <button type="submit" class="primary" disabled={busy || wait > 0}>
              {busy ? 'Claiming…' : 'Claim camera'}
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}
