// SPDX-License-Identifier: GPL-3.0-or-later
// User management (admin): list, add, change role, reset password, delete; and the clients that reach the device
// through the owner's relay (remote.tsx).
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, get, hasRole, ROLES, type Role, type User } from '../api';
import { formatTime } from '../format';
import { PASSWORD_RULE, passwordProblem, USERNAME_RULE, usernameProblem } from '../rules';
import { useSession } from '../session';
import {
  announce,
  ConfirmDialog,
  Dialog,
  errorText,
  Field,
  FormError,
  PageTitle,
  PasswordField,
  RoleSelect,
  showProblems,
  showRefusal,
} from '../ui';
import { PasswordForm } from './account';
import { RemoteAccess } from './remote';

const ROLE_HELP = 'Viewer: watch and read. Operator: also streams, image, motion and privacy. Admin: everything.';

export function UsersPage() {
  const session = useSession();
  if (!hasRole(session.role, 'admin')) {
    return (
      <>
        <PageTitle>Users</PageTitle>
        <p class="card">
          Only an admin can manage users. You can change your own password on <a href="#/account">your account</a>.
        </p>
      </>
    );
  }
  return <UserAdmin />;
}

function UserAdmin() {
  const session = useSession();
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState('');
  const [rowErrors, setRowErrors] = useState<Record<string, string>>({});
  const [passwordFor, setPasswordFor] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);

  async function reload() {
    try {
      setUsers((await get<{ users: User[] }>('/api/v1/users')).users);
      setError('');
    } catch (e) {
      setError(errorText(e));
    }
  }

  useEffect(() => {
    void reload();
  }, []);

  async function changeRole(user: User, role: Role) {
    setRowErrors((r) => ({ ...r, [user.username]: '' }));
    try {
      await api('PATCH', `/api/v1/users/${encodeURIComponent(user.username)}`, { role });
      announce(`${user.username} is now ${role}.`);
      if (user.username === session.username) {
        // One's own role changed on the device at once: what this page may show changes too.
        await session.refresh();
        return;
      }
    } catch (e) {
      const text =
        e instanceof ApiError && e.code === 'conflict' ? 'The device needs at least one admin.' : errorText(e);
      setRowErrors((r) => ({ ...r, [user.username]: text }));
      announce(text);
    }
    await reload();
  }

  return (
    <>
      <PageTitle>Users</PageTitle>
      {error && <FormError>The users could not be read: {error}</FormError>}
      <section class="card" aria-labelledby="users-title">
        <h2 id="users-title">Accounts</h2>
        {users && (
          <div class="table-wrap">
            <table class="users">
              <thead>
                <tr>
                  <th scope="col">User</th>
                  <th scope="col">Role</th>
                  <th scope="col">Created</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {users.map((u) => (
                  <tr key={u.username} data-username={u.username}>
                    <th scope="row">
                      {u.username}
                      {u.username === session.username && <span class="muted"> (you)</span>}
                    </th>
                    <td>
                      <label class="inline">
                        <span class="visually-hidden">Role of {u.username}</span>
                        <select
                          name={`role-${u.username}`}
                          value={u.role}
                          aria-invalid={rowErrors[u.username] ? true : undefined}
                          aria-describedby={rowErrors[u.username] ? `role-error-${u.username}` : undefined}
                          onChange={(e) => void changeRole(u, e.currentTarget.value as Role)}
                        >
                          {ROLES.map((r) => (
                            <option key={r} value={r}>
                              {r}
                            </option>
                          ))}
                        </select>
                      </label>
                      {rowErrors[u.username] && (
                        <p class="field-error" id={`role-error-${u.username}`}>
                          {rowErrors[u.username]}
                        </p>
                      )}
                    </td>
                    <td>{formatTime(u.created * 1000)}</td>
                    <td class="row-actions">
                      <button type="button" onClick={() => setPasswordFor(u.username)}>
                        {u.username === session.username ? 'Change password' : 'Reset password'}
                        <span class="visually-hidden"> of {u.username}</span>
                      </button>
                      <button type="button" class="danger" onClick={() => setDeleting(u.username)}>
                        Delete<span class="visually-hidden"> {u.username}</span>
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <AddUser onAdded={() => void reload()} />
      <RemoteAccess />
      {passwordFor && (
        <Dialog
          title={passwordFor === session.username ? 'Change your password' : `New password for ${passwordFor}`}
          onClose={() => setPasswordFor(null)}
        >
          <PasswordForm
            username={passwordFor}
            onDone={() => setPasswordFor(null)}
            onCancel={() => setPasswordFor(null)}
          />
        </Dialog>
      )}
      {deleting && (
        <DeleteUser
          username={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => {
            setDeleting(null);
            if (deleting === session.username) void session.signOut('Your account was deleted.');
            else void reload();
          }}
        />
      )}
    </>
  );
}

function DeleteUser(props: { username: string; onClose: () => void; onDeleted: () => void }) {
  return (
    <ConfirmDialog
      title={`Delete ${props.username}?`}
      action="Delete"
      onClose={props.onClose}
      confirm={async () => {
        await api('DELETE', `/api/v1/users/${encodeURIComponent(props.username)}`);
        announce(`${props.username} was deleted.`);
        props.onDeleted();
      }}
      errorOf={(e) =>
        e instanceof ApiError && e.status === 409 ? 'This is the last admin: the device needs one.' : errorText(e)
      }
    >
      <p>The account is removed and its sessions end at once. This cannot be undone.</p>
    </ConfirmDialog>
  );
}

type AddErrors = Partial<Record<'username' | 'password' | 'role', string>>;

function AddUser(props: { onAdded: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [errors, setErrors] = useState<AddErrors>({});
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const found: AddErrors = {};
    const badName = usernameProblem(username);
    if (badName) found.username = badName;
    const badPassword = passwordProblem(password, username);
    if (badPassword) found.password = badPassword;
    if (showProblems(found, setErrors, setFormError)) return;
    setBusy(true);
    try {
      await api('POST', '/api/v1/users', { username, password, role });
      announce(`${username} was added as ${role}.`);
      setUsername('');
      setPassword('');
      setRole('viewer');
      props.onAdded();
    } catch (err) {
      const fields: Record<string, keyof AddErrors | [keyof AddErrors, string]> = {
        exists: ['username', 'A user with this name exists.'],
        invalid_username: 'username',
        weak_password: 'password',
        invalid_role: 'role',
      };
      showRefusal(err, fields, setErrors, setFormError);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card" aria-labelledby="add-user-title">
      <h2 id="add-user-title">Add a user</h2>
      <form onSubmit={submit} noValidate data-form="add-user">
        <div class="fields">
          <Field label="User name" error={errors.username} hint={USERNAME_RULE}>
            {(aria) => (
              <input
                {...aria}
                name="username"
                autocomplete="off"
                autocapitalize="none"
                spellcheck={false}
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
          />
          <RoleSelect value={role} onValue={setRole} hint={ROLE_HELP} error={errors.role} />
        </div>
        {formError && <FormError>{formError}</FormError>}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Add user
          </button>
        </div>
      </form>
    </section>
  );
}
