// SPDX-License-Identifier: GPL-3.0-or-later
// Settings, built from the device's schema (GET /api/v1/config/schema): each section is a form whose Save sends
// only the keys that changed (PATCH /api/v1/config, all or nothing). A key the sections below do not name lands in
// "Advanced", so a new setting on the device shows up here without a change to the UI.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, get, hasRole, type PatchResult, type Role, type SettingSpec, type Value } from '../api';
import { useSession } from '../session';
import { announce, errorText, Field, FormError, PageTitle, type FieldAria } from '../ui';
import { ZoneEditor } from './zone-editor';

interface Section {
  id: string;
  title: string;
  intro?: string;
  has: (key: string) => boolean;
}

// A key belongs to the first section that has it.
const SECTIONS: Section[] = [
  { id: 'streams', title: 'Streams', has: (k) => k.startsWith('stream.') },
  { id: 'image', title: 'Image', has: (k) => k.startsWith('image.') },
  {
    id: 'motion',
    title: 'Motion and detection',
    has: (k) => /^(motion|tamper|person)\./.test(k) || k === 'events.snapshots' || k === 'events.draw_boxes',
  },
  {
    id: 'privacy',
    title: 'Privacy',
    intro: 'In privacy mode the camera takes no picture: no stream, no snapshot, no analytics.',
    has: (k) => k.startsWith('privacy.'),
  },
  { id: 'mqtt', title: 'MQTT', has: (k) => k.startsWith('mqtt.') },
  {
    id: 'relay',
    title: 'Remote access',
    intro: 'The owner’s relay, which the device links to for remote access. Paired clients: the Users page.',
    has: (k) => k.startsWith('relay.'),
  },
  { id: 'events', title: 'Event history', has: (k) => k.startsWith('events.') },
  { id: 'advanced', title: 'Network, ONVIF and advanced', has: () => true },
];

const GROUP_TITLES: Record<string, string> = {
  'stream.main': 'Main stream',
  'stream.sub': 'Sub stream',
  motion: 'Motion',
  tamper: 'Tamper',
  person: 'Person detection',
  events: 'Event snapshots',
  device: 'Device',
  log: 'Logging',
  http: 'Web server',
  security: 'Sessions and lockout',
  onvif: 'ONVIF',
  discovery: 'Discovery',
  rtsp: 'RTSP',
  source: 'Video source',
  ptz: 'PTZ',
};

const LABELS: Record<string, string> = {
  enabled: 'Enabled',
  fps: 'Frame rate',
  gop: 'Keyframe interval',
  'image.day_night': 'Day/night mode',
  'motion.enabled': 'Motion detection',
  'motion.min_area': 'Smallest motion',
  'motion.zones': 'Zones as text',
  'motion.fps': 'Pictures analysed per second',
  'tamper.enabled': 'Tamper detection',
  'person.enabled': 'Person detection',
  'person.model_input': 'Model input size',
  'events.snapshots': 'Take a snapshot with each event',
  'events.draw_boxes': 'Draw boxes into snapshots',
  'privacy.enabled': 'Privacy mode',
  'mqtt.url': 'Broker URL',
  'mqtt.ca_file': 'CA file',
  'mqtt.device_id': 'Device ID',
  'relay.url': 'Relay URL',
  'relay.fingerprint': 'Relay certificate fingerprint',
  'relay.owners': 'Owner keys',
  'http.bind': 'Bind address',
  'http.https_port': 'HTTPS port',
  'http.plain_enabled': 'Plain HTTP',
  'http.plain_port': 'Plain HTTP port',
  'rtsp.tls_enabled': 'RTSPS (TLS)',
  'rtsp.tls_port': 'RTSPS port',
  'rtsp.udp_port_first': 'First UDP port',
  'rtsp.udp_port_last': 'Last UDP port',
};

const RESOLUTIONS = [
  [3840, 2160],
  [2560, 1440],
  [1920, 1080],
  [1280, 960],
  [1280, 720],
  [1024, 576],
  [960, 540],
  [800, 600],
  [640, 480],
  [640, 360],
  [352, 288],
  [320, 240],
  [320, 180],
] as const;

function groupOf(key: string): string {
  const parts = key.split('.');
  return parts[0] === 'stream' ? parts.slice(0, 2).join('.') : parts[0];
}

function humanize(text: string): string {
  const words = text.replace(/_(ms|s|kb|mb|kbps|px)$/, '').replace(/[._]/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function labelOf(key: string): string {
  const last = key.slice(key.lastIndexOf('.') + 1);
  return LABELS[key] ?? LABELS[last] ?? humanize(key.slice(groupOf(key).length + 1));
}

const isSecret = (spec: SettingSpec) => spec.secret === true;

// What a form control holds: integers as typed, so that a half-typed number is not lost.
type Draft = boolean | string;

function toDraft(v: Value | undefined): Draft {
  return typeof v === 'boolean' ? v : v === undefined ? '' : String(v);
}

// The value to send for a draft, or an Error saying why there is none.
function fromDraft(spec: SettingSpec, draft: Draft): Value | Error {
  if (spec.type === 'boolean') return draft === true;
  if (spec.type === 'integer') {
    const text = String(draft).trim();
    return /^-?\d+$/.test(text) ? Number(text) : new Error('Enter a whole number.');
  }
  return String(draft);
}

function errorFor(key: string, message: string): string {
  return message.startsWith(`${key}: `) ? message.slice(key.length + 2) : message;
}

interface SectionState {
  busy?: boolean;
  error?: string;
  saved?: string;
}

export function SettingsPage() {
  const { role } = useSession();
  if (!hasRole(role, 'operator')) {
    return (
      <>
        <PageTitle>Settings</PageTitle>
        <p class="card">Your role cannot change settings.</p>
      </>
    );
  }
  return <SettingsForms role={role} />;
}

function SettingsForms(props: { role: Role }) {
  const [specs, setSpecs] = useState<SettingSpec[] | null>(null);
  const [values, setValues] = useState<Record<string, Value>>({});
  const [drafts, setDrafts] = useState<Record<string, Draft>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [sections, setSections] = useState<Record<string, SectionState>>({});
  const [loadError, setLoadError] = useState('');

  useEffect(() => {
    Promise.all([
      get<{ settings: SettingSpec[] }>('/api/v1/config/schema'),
      get<{ values: Record<string, Value> }>('/api/v1/config'),
    ]).then(
      ([schema, config]) => {
        setSpecs(schema.settings);
        setValues(config.values);
      },
      (e) => setLoadError(errorText(e)),
    );
  }, []);

  if (!specs) {
    return (
      <>
        <PageTitle>Settings</PageTitle>
        {loadError && <FormError>The settings could not be read: {loadError}</FormError>}
        {!loadError && <p class="muted">Loading…</p>}
      </>
    );
  }

  const current = (spec: SettingSpec): Draft =>
    spec.key in drafts ? drafts[spec.key] : isSecret(spec) ? '' : toDraft(values[spec.key]);
  const changed = (spec: SettingSpec): boolean => {
    if (!(spec.key in drafts)) return false;
    if (isSecret(spec)) return drafts[spec.key] !== '';
    return drafts[spec.key] !== toDraft(values[spec.key]);
  };
  const setDraft = (key: string, v: Draft) => setDrafts((d) => ({ ...d, [key]: v }));
  const canWrite = (spec: SettingSpec) => hasRole(props.role, spec.write_role);

  const bySection = new Map<string, SettingSpec[]>();
  const sectionOf = new Map<string, string>();
  for (const spec of specs) {
    const section = SECTIONS.find((s) => s.has(spec.key))!;
    bySection.set(section.id, [...(bySection.get(section.id) ?? []), spec]);
    sectionOf.set(spec.key, section.id);
  }

  async function save(section: Section, e: Event) {
    e.preventDefault();
    const mine = (key: string) => sectionOf.get(key) === section.id;
    const keys = (bySection.get(section.id) ?? []).filter(changed);
    const cleared = Object.fromEntries(Object.entries(errors).filter(([k]) => !mine(k)));
    const body: Record<string, Value> = {};
    const local: Record<string, string> = {};
    for (const spec of keys) {
      const v = fromDraft(spec, drafts[spec.key]);
      if (v instanceof Error) local[spec.key] = v.message;
      else body[spec.key] = v;
    }
    if (Object.keys(local).length > 0) {
      setErrors({ ...cleared, ...local });
      announce('Some values need fixing before saving.');
      return;
    }
    if (keys.length === 0) {
      setErrors(cleared);
      setSections((s) => ({ ...s, [section.id]: { saved: 'Nothing has changed.' } }));
      return;
    }
    setSections((s) => ({ ...s, [section.id]: { busy: true } }));
    try {
      const result = await api<PatchResult>('PATCH', '/api/v1/config', body);
      const stored = Object.fromEntries(
        keys.map((spec) => [spec.key, isSecret(spec) ? (body[spec.key] ? '********' : '') : body[spec.key]]),
      );
      setValues((v) => ({ ...v, ...stored }));
      setDrafts((d) => Object.fromEntries(Object.entries(d).filter(([k]) => !(k in body))));
      setErrors(cleared);
      const later = result.restart_required;
      const saved =
        later.length > 0
          ? `Saved. ${later.join(', ')} take${later.length === 1 ? 's' : ''} effect after a restart (Device page).`
          : 'Saved.';
      setSections((s) => ({ ...s, [section.id]: { saved } }));
      announce(`${section.title}: ${saved}`);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const fieldErrors = Object.fromEntries(
        err.errors.filter((fe) => mine(fe.key)).map((fe) => [fe.key, errorFor(fe.key, fe.message)]),
      );
      const others = err.errors.filter((fe) => !mine(fe.key)).map((fe) => fe.message);
      setErrors({ ...cleared, ...fieldErrors });
      const count = err.errors.length;
      const error =
        others.length > 0 || count === 0
          ? [err.message, ...others].join(' ')
          : `Nothing was saved: ${count === 1 ? 'one value was' : `${count} values were`} refused.`;
      setSections((s) => ({ ...s, [section.id]: { error } }));
      announce(`${section.title}: ${error}`);
    }
  }

  function renderField(spec: SettingSpec) {
    const disabled = !canWrite(spec);
    const notes = [
      spec.help.toLowerCase() === labelOf(spec.key).toLowerCase() ? '' : spec.help,
      spec.type === 'integer' && spec.min !== undefined && spec.max !== undefined
        ? `Range ${spec.min}–${spec.max}${spec.unit ? ` ${spec.unit}` : ''}`
        : '',
      spec.restart_required ? 'Takes effect after a restart' : '',
      disabled ? `Only the ${spec.write_role} role may change this` : '',
    ]
      .filter(Boolean)
      .map((note) => (/[.!?]$/.test(note) ? note : `${note}.`));
    const label = (
      <>
        {labelOf(spec.key)}
        {spec.unit && spec.type !== 'boolean' ? <span class="unit"> ({spec.unit})</span> : null}
        {spec.restart_required && <span class="badge">restart</span>}
      </>
    );
    const value = current(spec);
    const control = (aria: FieldAria) => {
      const common = { ...aria, name: spec.key, disabled };
      if (spec.type === 'boolean') {
        return (
          <input
            {...common}
            type="checkbox"
            checked={value === true}
            onChange={(e) => setDraft(spec.key, e.currentTarget.checked)}
          />
        );
      }
      if (spec.type === 'choice') {
        return (
          <select {...common} value={String(value)} onChange={(e) => setDraft(spec.key, e.currentTarget.value)}>
            {(spec.choices ?? []).map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        );
      }
      if (spec.type === 'integer') {
        return (
          <input
            {...common}
            type="number"
            inputMode="numeric"
            step={1}
            min={spec.min}
            max={spec.max}
            value={String(value)}
            onInput={(e) => setDraft(spec.key, e.currentTarget.value)}
          />
        );
      }
      if (isSecret(spec)) {
        return (
          <input
            {...common}
            type="password"
            autocomplete="new-password"
            placeholder={values[spec.key] ? 'Stored; type to replace' : 'Not set'}
            value={String(value)}
            onInput={(e) => setDraft(spec.key, e.currentTarget.value)}
          />
        );
      }
      return (
        <input
          {...common}
          type="text"
          spellcheck={false}
          autocapitalize="none"
          maxLength={spec.max}
          value={String(value)}
          onInput={(e) => setDraft(spec.key, e.currentTarget.value)}
        />
      );
    };
    const field = (
      <Field
        key={spec.key}
        label={label}
        hint={notes.join(' ')}
        error={errors[spec.key]}
        check={spec.type === 'boolean'}
        class={spec.type === 'string' && (spec.max ?? 0) > 64 ? 'wide' : undefined}
      >
        {control}
      </Field>
    );
    const stream = /^(stream\.[^.]+)\.width$/.exec(spec.key)?.[1];
    if (stream) {
      const width = `${stream}.width`;
      const height = `${stream}.height`;
      const picker = (
        <ResolutionPicker
          key={`${stream}.resolution`}
          stream={stream}
          disabled={disabled}
          width={String(drafts[width] ?? values[width] ?? '')}
          height={String(drafts[height] ?? values[height] ?? '')}
          onPick={(w, h) => setDrafts((d) => ({ ...d, [width]: String(w), [height]: String(h) }))}
        />
      );
      return [picker, field];
    }
    if (spec.key === 'motion.zones') {
      return [
        <div class="wide" key="zone-editor">
          <h3>Zones</h3>
          <ZoneEditor value={String(value)} disabled={disabled} onChange={(text) => setDraft(spec.key, text)} />
        </div>,
        field,
      ];
    }
    return field;
  }

  return (
    <>
      <PageTitle>Settings</PageTitle>
      <nav class="section-links" aria-label="Settings sections">
        {SECTIONS.filter((s) => bySection.has(s.id)).map((s) => (
          <a key={s.id} href={`#/settings`} onClick={(e) => jumpTo(e, `section-${s.id}`)}>
            {s.title}
          </a>
        ))}
      </nav>
      {SECTIONS.filter((s) => bySection.has(s.id)).map((section) => {
        const sectionSpecs = bySection.get(section.id)!;
        const groups = new Map<string, SettingSpec[]>();
        for (const spec of sectionSpecs)
          groups.set(groupOf(spec.key), [...(groups.get(groupOf(spec.key)) ?? []), spec]);
        const state = sections[section.id] ?? {};
        const writable = sectionSpecs.some(canWrite);
        const dirty = sectionSpecs.some(changed);
        return (
          <form
            key={section.id}
            id={`section-${section.id}`}
            class="card settings-section"
            data-section={section.id}
            aria-labelledby={`section-${section.id}-title`}
            onSubmit={(e) => void save(section, e)}
            noValidate
          >
            <h2 id={`section-${section.id}-title`} tabIndex={-1}>
              {section.title}
            </h2>
            {section.intro && <p class="muted">{section.intro}</p>}
            {!writable && <p class="notice">Only an admin may change these settings.</p>}
            {[...groups].map(([group, list]) =>
              groups.size > 1 ? (
                <fieldset key={group} class="group">
                  <legend>{GROUP_TITLES[group] ?? humanize(group)}</legend>
                  <div class="fields">{list.map(renderField)}</div>
                </fieldset>
              ) : (
                <div key={group} class="fields">
                  {list.map(renderField)}
                </div>
              ),
            )}
            {state.error && <FormError>{state.error}</FormError>}
            <div class="actions">
              {state.saved && !dirty && <span class="saved">{state.saved}</span>}
              {dirty && <span class="muted">Unsaved changes</span>}
              <button type="submit" class="primary" disabled={!writable || state.busy}>
                Save
              </button>
            </div>
          </form>
        );
      })}
    </>
  );
}

// In-page links must not change the hash: the hash is the route.
function jumpTo(e: Event, id: string) {
  e.preventDefault();
  const el = document.getElementById(id);
  el?.scrollIntoView({ behavior: 'smooth', block: 'start' });
  el?.querySelector<HTMLElement>('h2')?.focus();
}

function ResolutionPicker(props: {
  stream: string;
  disabled: boolean;
  width: string;
  height: string;
  onPick: (width: number, height: number) => void;
}) {
  const currentValue = `${props.width}x${props.height}`;
  const known = RESOLUTIONS.some(([w, h]) => `${w}x${h}` === currentValue);
  return (
    <Field label="Resolution" hint="A common size, or type width and height.">
      {(aria) => (
        <select
          {...aria}
          data-resolution-for={props.stream}
          disabled={props.disabled}
          value={currentValue}
          onChange={(e) => {
            const [w, h] = e.currentTarget.value.split('x').map(Number);
            if (w && h) props.onPick(w, h);
          }}
        >
          {!known && <option value={currentValue}>{`${props.width}×${props.height} (current)`}</option>}
          {RESOLUTIONS.map(([w, h]) => (
            <option key={`${w}x${h}`} value={`${w}x${h}`}>
              {`${w}×${h}`}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}
