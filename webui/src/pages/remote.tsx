// SPDX-License-Identifier: GPL-3.0-or-later
// Remote access through the owner's relay (admin, on the Users page): the device's relay identity and link, the
// clients paired with it and their roles, revoking a client (also one that came with a grant), and pairing a
// client by its public key. docs/rest-api.md, "Remote access"; docs/relay-protocol.md for what the keys are.
import { useState } from 'preact/hooks';
import { api, get, type RelayClient, type RelayStatus, type Role } from '../api';
import { formatTime } from '../format';
import {
  announce,
  ConfirmDialog,
  errorText,
  Field,
  FormError,
  RoleSelect,
  showProblems,
  showRefusal,
  usePolling,
} from '../ui';

const REFRESH_MS = 5000;
const KEY_RULE = (
  <>
    43 characters: the key <code>freehold id</code> prints on the client (public, not a secret).
  </>
);
const ID_RULE = '32 characters, letters a–z and digits 2–7: the ID that “freehold id” or the audit log shows.';
const NAME_MAX = 64; // bytes of UTF-8, as the device counts

const KEY_SHAPE = 'A client key is 43 characters of A–Z, a–z, 0–9, "-" and "_".';
const keyProblem = (key: string) => (/^[A-Za-z0-9_-]{43}$/.test(key) ? null : KEY_SHAPE);
const idProblem = (id: string) => (/^[A-Za-z2-7]{32}$/.test(id) ? null : 'This is not a client ID.');
const nameBytes = (name: string) => new TextEncoder().encode(name).length;

function linkText(relay: RelayStatus['relay']): string {
  if (!relay.url) return 'Off: no relay is set (Settings, “Remote access”).';
  if (!relay.connected) return 'Not linked: the device keeps trying to reach the relay.';
  return `Linked, ${relay.sessions} open session${relay.sessions === 1 ? '' : 's'}.`;
}

export function RemoteAccess() {
  const [status, setStatus] = useState<RelayStatus | null>(null);
  const [error, setError] = useState('');
  const [revoking, setRevoking] = useState<{ id: string; name: string } | null>(null);

  async function reload() {
    try {
      setStatus(await get<RelayStatus>('/api/v1/relay'));
      setError('');
    } catch (e) {
      setError(errorText(e));
    }
  }
  usePolling(() => void reload(), REFRESH_MS);

  return (
    <section class="card" aria-labelledby="remote-title" data-section="remote">
      <h2 id="remote-title">Remote access</h2>
      <p class="muted">
        Clients reach the device through the owner’s relay, end to end encrypted. Pair one on the local network
        with <code>freehold pair https://DEVICE</code>, or paste its key below. A paired client needs no password; its
        role decides what it may do.
      </p>
      {error && <FormError>Remote access could not be read: {error}</FormError>}
      {status && (
        <>
          <dl class="facts">
            <dt>Device ID</dt>
            <dd>
              <code data-field="device-id">{status.device.id}</code>
            </dd>
            <dt>Device key</dt>
            <dd>
              <code class="fingerprint">{status.device.key}</code>
            </dd>
            <dt>Relay</dt>
            <dd data-field="relay-url">{status.relay.url || <span class="muted">none</span>}</dd>
            {status.relay.url && (
              <>
                <dt>Relay fingerprint</dt>
                <dd>
                  <code class="fingerprint">{status.relay.fingerprint || '(not pinned)'}</code>
                </dd>
              </>
            )}
            <dt>Link</dt>
            <dd data-field="relay-link">{linkText(status.relay)}</dd>
            {status.relay.url && status.relay.fingerprint && (
              <>
                <dt>On a client</dt>
                <dd>
                  <code class="command" data-field="add-command">
                    freehold add NAME --id {status.device.id} --key {status.device.key} --relay {status.relay.url}{' '}
                    --relay-fingerprint {status.relay.fingerprint}
                  </code>
                  <span class="hint">
                    remembers this device on a paired client; then <code>freehold connect NAME</code>.
                  </span>
                </dd>
              </>
            )}
          </dl>
          <h3 id="clients-title">Paired clients</h3>
          {status.clients.length === 0 ? (
            <p class="muted" data-field="no-clients">
              No client is paired yet. Keys in the “Owner keys” setting are admins as well and are not listed here.
            </p>
          ) : (
            <ClientTable clients={status.clients} onRevoke={(c) => setRevoking({ id: c.id, name: c.name })} />
          )}
          {status.blocked.length > 0 && (
            <>
              <h3>Revoked</h3>
              <ul class="blocked" aria-label="Revoked client IDs">
                {status.blocked.map((id) => (
                  <li key={id} data-blocked={id}>
                    <code>{id}</code>
                  </li>
                ))}
              </ul>
              <p class="hint">Pairing a revoked client’s key again lets it back in.</p>
            </>
          )}
          <PairClient onPaired={() => void reload()} />
          <RevokeById onRevoke={(id) => setRevoking({ id, name: '' })} />
        </>
      )}
      {revoking && (
        <RevokeClient
          client={revoking}
          onClose={() => setRevoking(null)}
          onRevoked={() => {
            setRevoking(null);
            void reload();
          }}
        />
      )}
    </section>
  );
}

function ClientTable(props: { clients: RelayClient[]; onRevoke: (client: RelayClient) => void }) {
  return (
    <div class="table-wrap">
      <table class="clients" aria-labelledby="clients-title">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Client ID</th>
            <th scope="col">Role</th>
            <th scope="col">Paired</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.clients.map((c) => (
            <tr key={c.id} data-client={c.id}>
              <th scope="row">{c.name || <span class="muted">(no name)</span>}</th>
              <td>
                <code>{c.id}</code>
              </td>
              <td data-field="role">{c.role}</td>
              <td>{formatTime(c.added * 1000)}</td>
              <td class="row-actions">
                <button type="button" class="danger" onClick={() => props.onRevoke(c)}>
                  Revoke<span class="visually-hidden"> {c.name || c.id}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RevokeClient(props: { client: { id: string; name: string }; onClose: () => void; onRevoked: () => void }) {
  const label = props.client.name ? `${props.client.name} (${props.client.id})` : props.client.id;
  return (
    <ConfirmDialog
      title="Revoke this client?"
      action="Revoke"
      onClose={props.onClose}
      confirm={async () => {
        await api('DELETE', `/api/v1/relay/clients/${encodeURIComponent(props.client.id)}`);
        announce(`${label} was revoked.`);
        props.onRevoked();
      }}
    >
      <p>
        <code>{label}</code> can no longer reach the device through the relay, its open sessions end at once, and
        every grant it gave to others stops working.
      </p>
    </ConfirmDialog>
  );
}

type PairErrors = Partial<Record<'key' | 'name' | 'role', string>>;

function PairClient(props: { onPaired: () => void }) {
  const [key, setKey] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [errors, setErrors] = useState<PairErrors>({});
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const trimmed = key.trim();
    const found: PairErrors = {};
    const badKey = keyProblem(trimmed);
    if (badKey) found.key = badKey;
    if (nameBytes(name) > NAME_MAX) found.name = `At most ${NAME_MAX} bytes (a non-ASCII character counts 2–4).`;
    if (showProblems(found, setErrors, setFormError)) return;
    setBusy(true);
    try {
      const paired = await api<{ client: string }>('POST', '/api/v1/relay/clients', { key: trimmed, name, role });
      announce(`Client ${paired.client} was paired as ${role}.`);
      setKey('');
      setName('');
      setRole('viewer');
      props.onPaired();
    } catch (err) {
      const fields: Record<string, keyof PairErrors | [keyof PairErrors, string]> = {
        invalid_key: ['key', 'This is not a client’s public key: was it copied whole?'],
        invalid_name: 'name',
        invalid_role: 'role',
      };
      showRefusal(err, fields, setErrors, setFormError);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate data-form="pair-client" aria-labelledby="pair-title">
      <h3 id="pair-title">Pair a client</h3>
      <div class="fields">
        <Field label="Client key" error={errors.key} hint={KEY_RULE}>
          {(aria) => (
            <input
              {...aria}
              name="key"
              autocomplete="off"
              autocapitalize="none"
              spellcheck={false}
              value={key}
              onInput={(e) => setKey(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field label="Name" error={errors.name} hint="Optional: whose client this is, e.g. “Anna’s phone”.">
          {(aria) => (
            <input
              {...aria}
              name="name"
              autocomplete="off"
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
            />
          )}
        </Field>
        <RoleSelect
          value={role}
          onValue={setRole}
          hint="What the client may do through the relay, as for a user."
          error={errors.role}
        />
      </div>
      {formError && <FormError>{formError}</FormError>}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Pair client
        </button>
      </div>
    </form>
  );
}

// A client that came with a grant is not in the paired list: it is revoked by its ID.
function RevokeById(props: { onRevoke: (id: string) => void }) {
  const [id, setId] = useState('');
  const [error, setError] = useState('');
  function submit(e: Event) {
    e.preventDefault();
    const trimmed = id.trim().toLowerCase();
    const problem = idProblem(trimmed);
    setError(problem ?? '');
    if (problem) {
      announce(problem);
      return;
    }
    setId('');
    props.onRevoke(trimmed);
  }
  return (
    <form onSubmit={submit} noValidate data-form="revoke-id" aria-labelledby="revoke-id-title">
      <h3 id="revoke-id-title">Revoke a client by its ID</h3>
      <p class="muted">For a client that came with a grant from a paired one: it is not listed above.</p>
      <div class="fields">
        <Field label="Client ID" error={error} hint={ID_RULE}>
          {(aria) => (
            <input
              {...aria}
              name="client-id"
              autocomplete="off"
              autocapitalize="none"
              spellcheck={false}
              value={id}
              onInput={(e) => setId(e.currentTarget.value)}
            />
          )}
        </Field>
      </div>
      <div class="actions">
        <button type="submit" class="danger">
          Revoke…
        </button>
      </div>
    </form>
  );
}
