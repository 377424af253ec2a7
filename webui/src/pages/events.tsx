// SPDX-License-Identifier: GPL-3.0-or-later
// What the camera saw: the stored history (GET /api/v1/events, newest first, paged with `before`) with new events
// added as the server-sent event stream delivers them.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, type CameraEvent, type EventPage } from '../api';
import { formatTime } from '../format';
import { Dialog, errorText, Field, FormError, PageTitle } from '../ui';

const TYPES = ['motion_start', 'motion_end', 'person', 'tamper'] as const;
const TYPE_LABELS: Record<string, string> = {
  motion_start: 'Motion started',
  motion_end: 'Motion ended',
  person: 'Person',
  tamper: 'Tamper',
};
const PAGE_SIZE = 50;
const STREAM_RETRY_MS = 5000;

interface Filter {
  types: string[];
  since: number | null; // Unix ms
}

function matches(ev: CameraEvent, f: Filter): boolean {
  return f.types.includes(ev.type) && (f.since === null || Date.parse(ev.time) >= f.since);
}

function query(f: Filter, before: number | null): string {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (f.types.length < TYPES.length) q.set('type', f.types.join(','));
  if (f.since !== null) q.set('since', String(f.since));
  if (before !== null) q.set('before', String(before));
  return `/api/v1/events?${q}`;
}

function merge(list: CameraEvent[], more: CameraEvent[]): CameraEvent[] {
  const byId = new Map(list.map((e) => [e.id, e]));
  for (const e of more) byId.set(e.id, e);
  return [...byId.values()].sort((a, b) => b.id - a.id);
}

// Moving regions are counted; detected objects are listed with their confidence.
function found(ev: CameraEvent): string {
  const moving = ev.objects.filter((o) => o.label === 'motion').length;
  const objects = ev.objects
    .filter((o) => o.label !== 'motion')
    .map((o) => `${o.label} (${Math.round(o.confidence * 100)} %)`);
  if (moving > 0) objects.unshift(`${moving} moving ${moving === 1 ? 'region' : 'regions'}`);
  return objects.join(', ') || '—';
}

const snapshotOf = (ev: CameraEvent) => (ev.snapshot ? `/api/v1/events/${ev.id}/snapshot` : null);

function describe(ev: CameraEvent): string {
  const parts = ev.zones.length > 0 ? [`zones: ${ev.zones.join(', ')}`] : [];
  if (ev.objects.length > 0) parts.push(`${ev.objects.length} ${ev.objects.length === 1 ? 'box' : 'boxes'}`);
  if (ev.duration_ms !== undefined) parts.push(`lasted ${(ev.duration_ms / 1000).toFixed(1)} s`);
  if (ev.detail) parts.push(ev.detail.replace('_', ' '));
  return parts.join(' · ');
}

export function EventsPage() {
  const [types, setTypes] = useState<string[]>([...TYPES]);
  const [sinceText, setSinceText] = useState('');
  const [filter, setFilter] = useState<Filter>({ types: [...TYPES], since: null });
  const [events, setEvents] = useState<CameraEvent[]>([]);
  const [nextBefore, setNextBefore] = useState<number | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const [live, setLive] = useState<'connecting' | 'live' | 'offline'>('connecting');
  const [selected, setSelected] = useState<CameraEvent | null>(null);
  const filterRef = useRef(filter);
  filterRef.current = filter;
  const loadSerial = useRef(0);

  async function load(f: Filter, before: number | null) {
    const serial = ++loadSerial.current;
    setLoading(true);
    setError('');
    try {
      const page = f.types.length > 0 ? await get<EventPage>(query(f, before)) : { events: [], next_before: null };
      if (serial !== loadSerial.current) return; // a newer filter's answer wins
      setEvents((list) => merge(before === null ? [] : list, page.events));
      setNextBefore(page.next_before);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoading(false);
    }
  }

  useEffect(() => {
    void load(filter, null);
  }, [filter]);

  // The live stream; EventSource reconnects by itself (resuming with Last-Event-ID) unless the server refused it.
  useEffect(() => {
    let source: EventSource | null = null;
    let retry = 0;
    const open = () => {
      const s = new EventSource('/api/v1/events');
      source = s;
      s.onopen = () => setLive('live');
      s.onerror = () => {
        if (s.readyState !== EventSource.CLOSED) {
          setLive('connecting');
          return;
        }
        setLive('offline');
        // Refused: most likely the session ended, which this request reports (and the app shows the login page).
        void get('/api/v1/session').then(
          () => {
            retry = window.setTimeout(open, STREAM_RETRY_MS);
          },
          () => undefined,
        );
      };
      for (const type of TYPES) {
        s.addEventListener(type, (m: MessageEvent<string>) => {
          const ev = JSON.parse(m.data) as CameraEvent;
          if (matches(ev, filterRef.current)) setEvents((list) => merge(list, [ev]));
        });
      }
    };
    open();
    return () => {
      window.clearTimeout(retry);
      source?.close();
    };
  }, []);

  function apply(e: Event) {
    e.preventDefault();
    const since = sinceText ? new Date(sinceText).getTime() : null;
    setFilter({ types, since: since !== null && Number.isFinite(since) ? since : null });
  }

  const liveText = { connecting: 'Connecting…', live: 'Live', offline: 'Not connected' }[live];
  return (
    <>
      <PageTitle
        actions={
          <span class={`live-state ${live}`} aria-live="polite">
            {liveText}
          </span>
        }
      >
        Events
      </PageTitle>
      <form class="card filters" onSubmit={apply} aria-label="Filter events">
        <fieldset class="types">
          <legend>Types</legend>
          {TYPES.map((t) => (
            <label key={t} class="inline">
              <input
                type="checkbox"
                name={`type-${t}`}
                checked={types.includes(t)}
                onChange={(e) => setTypes(e.currentTarget.checked ? [...types, t] : types.filter((x) => x !== t))}
              />{' '}
              {TYPE_LABELS[t]}
            </label>
          ))}
        </fieldset>
        <Field label="Since" hint="Local time; empty: all">
          {(aria) => (
            <input
              {...aria}
              type="datetime-local"
              name="since"
              step={1}
              value={sinceText}
              onInput={(e) => setSinceText(e.currentTarget.value)}
            />
          )}
        </Field>
        <div class="actions">
          <button type="submit" class="primary">
            Apply
          </button>
        </div>
      </form>
      {error && <FormError>The events could not be read: {error}</FormError>}
      {events.length === 0 && !loading && !error ? (
        <p class="card muted">
          No events{filter.since !== null || filter.types.length < TYPES.length ? ' match the filter' : ' yet'}.
        </p>
      ) : (
        <ul class="event-list" aria-label="Events, newest first" aria-busy={loading}>
          {events.map((ev) => {
            const snapshot = snapshotOf(ev);
            return (
              <li key={ev.id} data-event-id={ev.id} data-type={ev.type}>
                <button type="button" class="event-row" onClick={() => setSelected(ev)}>
                  {snapshot ? (
                    <img class="thumb" src={snapshot} alt="" loading="lazy" width={128} height={72} />
                  ) : (
                    <span class="thumb empty" aria-hidden="true" />
                  )}
                  <span class="event-text">
                    <span class={`badge type-${ev.type}`}>{TYPE_LABELS[ev.type] ?? ev.type}</span>
                    <time dateTime={ev.time}>{formatTime(Date.parse(ev.time))}</time>
                    <span class="muted">{describe(ev)}</span>
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {nextBefore !== null && (
        <div class="actions">
          <button type="button" disabled={loading} onClick={() => void load(filter, nextBefore)}>
            {loading ? 'Loading…' : 'Older events'}
          </button>
        </div>
      )}
      {selected && <EventDialog event={selected} onClose={() => setSelected(null)} />}
    </>
  );
}

function EventDialog(props: { event: CameraEvent; onClose: () => void }) {
  const ev = props.event;
  const snapshot = snapshotOf(ev);
  return (
    <Dialog
      title={`${TYPE_LABELS[ev.type] ?? ev.type}, ${formatTime(Date.parse(ev.time))}`}
      onClose={props.onClose}
      class="event-dialog"
    >
      {snapshot ? (
        <img class="event-picture" src={snapshot} alt={`Snapshot of event ${ev.id}`} />
      ) : (
        <p class="muted">No snapshot was kept for this event.</p>
      )}
      <dl class="facts">
        <dt>Event</dt>
        <dd>
          #{ev.id}
          {ev.related !== undefined ? ` (ends #${ev.related})` : ''}
        </dd>
        <dt>Zones</dt>
        <dd>{ev.zones.length > 0 ? ev.zones.join(', ') : '—'}</dd>
        <dt>Found</dt>
        <dd>{found(ev)}</dd>
        {ev.duration_ms !== undefined && (
          <>
            <dt>Duration</dt>
            <dd>{(ev.duration_ms / 1000).toFixed(1)} s</dd>
          </>
        )}
        {ev.detail && (
          <>
            <dt>Detail</dt>
            <dd>{ev.detail.replace('_', ' ')}</dd>
          </>
        )}
      </dl>
      {snapshot && (
        <div class="actions">
          <a class="button" href={snapshot} download={`event-${ev.id}.jpg`}>
            Download snapshot
          </a>
        </div>
      )}
    </Dialog>
  );
}
