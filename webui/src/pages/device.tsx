// SPDX-License-Identifier: GPL-3.0-or-later
// The device at a glance: identity, load, the media pipeline's counters, and (for an admin) the audit log.
// Refreshed every 5 s while the page is visible.
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { api, get, hasRole, type AuditEntry, type DeviceInfo, type Entity, type StreamsInfo } from '../api';
import { formatBytes, formatDuration, formatNumber, formatTime, formatValue } from '../format';
import { useSession } from '../session';
import { announce, errorText, FormError, PageTitle, usePolling } from '../ui';

const REFRESH_MS = 5000;
const AUDIT_PAGE = 50;
const GAUGES = ['cpu', 'memory', 'fps', 'bitrate'];

export function DevicePage() {
  const session = useSession();
  const admin = hasRole(session.role, 'admin');
  const [device, setDevice] = useState<DeviceInfo | null>(null);
  const [entities, setEntities] = useState<Entity[]>([]);
  const [streams, setStreams] = useState<StreamsInfo | null>(null);
  const [error, setError] = useState('');

  usePolling(() => {
    Promise.all([
      get<DeviceInfo>('/api/v1/device'),
      get<{ entities: Entity[] }>('/api/v1/entities'),
      get<StreamsInfo>('/api/v1/streams'),
    ]).then(
      ([d, e, s]) => {
        setDevice(d);
        setEntities(e.entities);
        setStreams(s);
        setError('');
      },
      (e) => setError(errorText(e)),
    );
  }, REFRESH_MS);

  const gauges = GAUGES.map((id) => entities.find((e) => e.object_id === id)).filter((e): e is Entity => !!e);
  // The tiles show the gauges and Identity the uptime (counted here, not once a minute): the rest are sensors.
  const sensors = entities.filter(
    (e) =>
      (e.component === 'binary_sensor' || e.component === 'sensor') &&
      !GAUGES.includes(e.object_id) &&
      e.object_id !== 'uptime',
  );
  return (
    <>
      <PageTitle>Device</PageTitle>
      {error && <FormError>The device could not be read: {error}</FormError>}
      {gauges.length > 0 && (
        <div class="tiles">
          {gauges.map((g) => (
            <div class="tile" key={g.object_id} id={`entity-${g.object_id}`}>
              <span class="tile-label">{g.name}</span>
              <span class="tile-value">{formatValue(g.state, g.unit)}</span>
            </div>
          ))}
        </div>
      )}
      <div class="grid-2">
        {device && (
          <section class="card" aria-labelledby="identity-title">
            <h2 id="identity-title">Identity</h2>
            <dl class="facts">
              <dt>Name</dt>
              <dd>{device.name}</dd>
              <dt>Model</dt>
              <dd>
                {device.manufacturer} {device.model}
              </dd>
              <dt>Firmware</dt>
              <dd>
                {device.firmware_version}
                {device.git_revision && <span class="muted"> ({device.git_revision})</span>}
              </dd>
              <dt>Up for</dt>
              <dd>{formatDuration(device.uptime_s)}</dd>
              <dt>Device clock</dt>
              <dd>{formatTime(device.time_utc * 1000)}</dd>
              <dt>TLS certificate</dt>
              <dd>
                <code class="fingerprint">{device.tls_fingerprint_sha256}</code>
                <span class="hint">SHA-256; compare with the device log (event=tls.identity) before trusting it.</span>
              </dd>
            </dl>
          </section>
        )}
        {sensors.length > 0 && (
          <section class="card" aria-labelledby="sensors-title">
            <h2 id="sensors-title">Sensors</h2>
            <dl class="facts">
              {sensors.map((s) => (
                <Fragment key={s.object_id}>
                  <dt>{s.name}</dt>
                  <dd>
                    {s.device_class === 'duration' && typeof s.state === 'number'
                      ? formatDuration(s.state)
                      : formatValue(s.state, s.unit)}
                  </dd>
                </Fragment>
              ))}
            </dl>
          </section>
        )}
      </div>
      {streams && <Streams info={streams} />}
      {hasRole(session.role, 'operator') && <Restart />}
      {admin && <Audit />}
    </>
  );
}

const RESTART_POLL_MS = 2000;
const RESTART_GIVE_UP_MS = 180000;

// Settings marked "restart" apply on the next start. Under systemd the device comes back by itself
// (RestartForceExitStatus); the page waits for it and reloads.
function Restart() {
  const [state, setState] = useState<'idle' | 'waiting' | 'failed'>('idle');
  const [error, setError] = useState('');

  async function restart() {
    if (!window.confirm('Restart the device? Streams and connections stop for a few seconds.')) return;
    setError('');
    try {
      await api('POST', '/api/v1/entities/restart/press');
    } catch (e) {
      setError(errorText(e));
      return;
    }
    setState('waiting');
    announce('The device is restarting.');
    const started = Date.now();
    let wentAway = false;
    const poll = async () => {
      try {
        const r = await fetch('/api/v1/health', { cache: 'no-store' });
        if (r.ok && wentAway) {
          window.location.reload();
          return;
        }
        if (!r.ok) wentAway = true;
      } catch {
        wentAway = true;
      }
      if (Date.now() - started > RESTART_GIVE_UP_MS) {
        setState('failed');
        return;
      }
      window.setTimeout(poll, RESTART_POLL_MS);
    };
    window.setTimeout(poll, RESTART_POLL_MS);
  }

  return (
    <section class="card" aria-labelledby="restart-title">
      <h2 id="restart-title">Restart</h2>
      <p class="hint">Settings marked “restart” take effect when the device starts again.</p>
      {error && <FormError>{error}</FormError>}
      {state === 'waiting' && <p role="status">Restarting… this page reloads when the device is back.</p>}
      {state === 'failed' && (
        <FormError>The device has not come back within 3 minutes. Check its power and network.</FormError>
      )}
      <button type="button" class="danger" onClick={restart} disabled={state === 'waiting'}>
        Restart device
      </button>
    </section>
  );
}

function Streams(props: { info: StreamsInfo }) {
  const { streams, rtsp } = props.info;
  return (
    <section class="card" aria-labelledby="streams-title">
      <h2 id="streams-title">Streams</h2>
      <div class="table-wrap">
        <table class="numbers">
          <thead>
            <tr>
              <th scope="col">Stream</th>
              <th scope="col">Size</th>
              <th scope="col">fps</th>
              <th scope="col">Readers</th>
              <th scope="col">Live viewers</th>
              <th scope="col">Frames encoded</th>
              <th scope="col">Bytes encoded</th>
              <th scope="col">Skipped (idle)</th>
              <th scope="col">Lost (busy)</th>
              <th scope="col">Dropped (resize)</th>
              <th scope="col">Encode failures</th>
            </tr>
          </thead>
          <tbody>
            {streams.map((s) => (
              <tr key={s.name} data-stream={s.name}>
                <th scope="row">
                  {s.name}
                  {!s.enabled && <span class="badge">off</span>}
                </th>
                <td>
                  {s.width}×{s.height}
                </td>
                <td>{formatNumber(s.fps, 1)}</td>
                <td>{s.readers}</td>
                <td>{s.live_viewers}</td>
                <td>{formatNumber(s.frames_encoded)}</td>
                <td>{formatBytes(s.bytes_encoded)}</td>
                <td>{formatNumber(s.frames_skipped_idle)}</td>
                <td>{formatNumber(s.frames_lost_busy)}</td>
                <td>{formatNumber(s.frames_dropped_resize)}</td>
                <td>{formatNumber(s.encode_failures)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3>RTSP</h3>
      {rtsp ? (
        <dl class="facts inline-facts">
          <dt>Port</dt>
          <dd>{rtsp.port}</dd>
          <dt>Connections</dt>
          <dd>{rtsp.connections}</dd>
          <dt>Playing</dt>
          <dd>{rtsp.sessions_playing}</dd>
          <dt>Frames sent</dt>
          <dd>{formatNumber(rtsp.frames_sent)}</dd>
          <dt>Frames dropped</dt>
          <dd>{formatNumber(rtsp.frames_dropped)}</dd>
          <dt>Failed logins</dt>
          <dd>{formatNumber(rtsp.auth_failures)}</dd>
          <dt>Send latency p50 / p99 / max</dt>
          <dd>
            {formatNumber(rtsp.send_latency_us.p50)} / {formatNumber(rtsp.send_latency_us.p99)} /{' '}
            {formatNumber(rtsp.send_latency_us.max)} µs
          </dd>
        </dl>
      ) : (
        <p class="muted">The RTSP server is turned off.</p>
      )}
    </section>
  );
}

// The audit log, newest first; the newest page follows the device, older pages stay put.
function Audit() {
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [older, setOlder] = useState<AuditEntry[]>([]);
  const [done, setDone] = useState(false);
  const [error, setError] = useState('');

  usePolling(() => {
    get<{ entries: AuditEntry[] }>(`/api/v1/audit?limit=${AUDIT_PAGE}`).then(
      (a) => {
        setEntries(a.entries);
        if (a.entries.length < AUDIT_PAGE) setDone(true);
        setError('');
      },
      (e) => setError(errorText(e)),
    );
  }, REFRESH_MS);

  const shown = [...entries, ...older.filter((o) => !entries.some((e) => e.id === o.id))];
  async function loadOlder() {
    const before = Math.min(...shown.map((e) => e.id));
    try {
      const page = await get<{ entries: AuditEntry[] }>(`/api/v1/audit?limit=${AUDIT_PAGE}&before=${before}`);
      setOlder((o) => [...o, ...page.entries]);
      setDone(page.entries.length < AUDIT_PAGE);
    } catch (e) {
      setError(errorText(e));
    }
  }

  return (
    <section class="card" aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      {error && <FormError>The audit log could not be read: {error}</FormError>}
      <div class="table-wrap">
        <table class="audit">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Who</th>
              <th scope="col">From</th>
              <th scope="col">What</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((e) => (
              <tr key={e.id} data-audit-id={e.id}>
                <td class="nowrap">{formatTime(e.time * 1000)}</td>
                <td>{e.actor}</td>
                <td>{e.source}</td>
                <td>{e.action.replace(/_/g, ' ')}</td>
                <td class="detail">{e.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {shown.length > 0 && !done && (
        <div class="actions">
          <button type="button" onClick={() => void loadOlder()}>
            Older entries
          </button>
        </div>
      )}
    </section>
  );
}
