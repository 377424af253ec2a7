// SPDX-License-Identifier: GPL-3.0-or-later
// The device's REST API (docs/rest-api.md): JSON in and out, the CSRF token on every change, and one place that
// notices when the session has ended.

export type Role = 'viewer' | 'operator' | 'admin';
export type Value = boolean | number | string;

export interface Session {
  username: string;
  role: Role;
  csrf_token: string;
}

export interface FieldError {
  key: string;
  message: string;
}

interface ErrorBody {
  error?: string;
  message?: string;
  retry_after_s?: number;
  errors?: FieldError[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfter: number;
  readonly errors: FieldError[];

  constructor(status: number, body: ErrorBody) {
    super(body.message ?? `The device answered ${status}`);
    this.status = status;
    this.code = body.error ?? 'unknown';
    this.retryAfter = body.retry_after_s ?? 0;
    this.errors = body.errors ?? [];
  }
}

let csrfToken = '';
let unauthorized: () => void = () => {};

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

// Called when a request finds no valid session (401 unauthorized): the app shows the login page.
export function onUnauthorized(handler: () => void): void {
  unauthorized = handler;
}

async function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, { error: 'network', message: 'The device cannot be reached' });
  }
  if (res.ok) return res;
  const data = (await res.json().catch(() => ({}))) as ErrorBody;
  const error = new ApiError(res.status, data);
  if (res.status === 401 && error.code === 'unauthorized') unauthorized();
  throw error;
}

export async function api<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const res = await send(method, path, body);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export const get = <T>(path: string): Promise<T> => api<T>('GET', path);

// A picture (or other binary answer) with its headers.
export async function getBlob(path: string): Promise<{ blob: Blob; headers: Headers }> {
  const res = await send('GET', path);
  return { blob: await res.blob(), headers: res.headers };
}

export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

export function hasRole(role: Role | undefined, least: Role): boolean {
  return role !== undefined && ROLES.indexOf(role) >= ROLES.indexOf(least);
}

// The answers the pages use.

export interface Health {
  status: string;
  claimed?: boolean;
}

export interface User {
  username: string;
  role: Role;
  created: number;
}

export interface SettingSpec {
  key: string;
  type: 'boolean' | 'integer' | 'string' | 'choice';
  default: Value;
  min?: number;
  max?: number;
  choices?: string[];
  unit?: string;
  help: string;
  write_role: Role;
  restart_required: boolean;
  secret?: boolean;
}

export interface PatchResult {
  changed: string[];
  restart_required: string[];
}

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface CameraEvent {
  id: number;
  type: string;
  time: string;
  source: string;
  zones: string[];
  objects: { label: string; confidence: number; box: Box }[];
  related?: number;
  duration_ms?: number;
  detail?: string;
  snapshot: string | null;
}

export interface EventPage {
  events: CameraEvent[];
  next_before: number | null;
}

export interface DeviceInfo {
  name: string;
  manufacturer: string;
  model: string;
  firmware_version: string;
  git_revision: string;
  tls_fingerprint_sha256: string;
  uptime_s: number;
  time_utc: number;
}

export interface Entity {
  object_id: string;
  name: string;
  component: string;
  setting?: string;
  device_class?: string;
  unit?: string;
  category?: string;
  state?: Value | null;
}

export interface StreamCounters {
  name: string;
  width: number;
  height: number;
  fps: number;
  enabled: boolean;
  readers: number;
  live_viewers: number;
  frames_encoded: number;
  bytes_encoded: number;
  frames_skipped_idle: number;
  frames_lost_busy: number;
  frames_dropped_resize: number;
  encode_failures: number;
}

export interface RtspCounters {
  port: number;
  connections: number;
  sessions_playing: number;
  frames_sent: number;
  frames_dropped: number;
  auth_failures: number;
  send_latency_us: { count: number; p50: number; p99: number; max: number };
}

export interface StreamsInfo {
  streams: StreamCounters[];
  rtsp: RtspCounters | null;
}

export interface AuditEntry {
  id: number;
  time: number;
  actor: string;
  source: string;
  action: string;
  detail: string;
}

// Remote access (GET /api/v1/relay): the device's relay identity, its link, the paired and the blocked clients.
export interface RelayClient {
  id: string;
  key: string;
  name: string;
  role: Role;
  added: number;
}

export interface RelayStatus {
  device: { id: string; key: string };
  relay: { url: string; fingerprint: string; connected: boolean; sessions: number };
  clients: RelayClient[];
  blocked: string[];
}
