// SPDX-License-Identifier: GPL-3.0-or-later
import { useState } from 'preact/hooks';
import { api, ApiError, type Session } from '../api';
import { announce, Field, FormError, PageTitle, useCountdown } from '../ui';

export function LoginPage(props: { notice: string; onSignedIn: (session: Session) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [wait, startWait] = useCountdown();

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      props.onSignedIn(await api<Session>('POST', '/api/v1/session', { username, password }));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.code === 'locked_out') {
        startWait(err.retryAfter);
        announce(`Too many failed attempts; try again in ${err.retryAfter} seconds.`);
      } else {
        const text = err.code === 'invalid_credentials' ? 'Wrong user name or password.' : err.message;
        setError(text);
        setPassword('');
      }
    } finally {
      setBusy(false);
    }
  }

  const failed = Boolean(error) || wait > 0;
  return (
    <div class="narrow">
      <PageTitle>Log in</PageTitle>
      <div class="card">
        {props.notice && <p class="notice">{props.notice}</p>}
        <form onSubmit={submit}>
          <Field label="User name">
            {(aria) => (
              <input
                {...aria}
                aria-invalid={failed || undefined}
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
          <Field label="Password">
            {(aria) => (
              <input
                {...aria}
                aria-invalid={failed || undefined}
                type="password"
                name="password"
                autocomplete="current-password"
                required
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            )}
          </Field>
          {error && <FormError>{error}</FormError>}
          {wait > 0 && (
            <p class="form-error" id="login-wait">
              Too many failed attempts; try again in {wait} s.
            </p>
          )}
          <div class="actions">
            <button type="submit" class="primary" disabled={busy || wait > 0}>
              {busy ? 'Logging in…' : 'Log in'}
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}
