// SPDX-License-Identifier: GPL-3.0-or-later
// The application shell: finds out whether the device is claimed and who is logged in, then shows the page that
// the hash names (#/live, #/settings, ...). The device serves only index.html and the assets.
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  api,
  ApiError,
  get,
  hasRole,
  onUnauthorized,
  setCsrfToken,
  type DeviceInfo,
  type Health,
  type Role,
  type Session,
} from './api';
import { AccountPage } from './pages/account';
import { ClaimPage } from './pages/claim';
import { DevicePage } from './pages/device';
import { EventsPage } from './pages/events';
import { LivePage } from './pages/live';
import { LoginPage } from './pages/login';
import { SettingsPage } from './pages/settings';
import { UsersPage } from './pages/users';
import { currentRoute, navigate, SessionContext, type SessionState } from './session';
import './style.css';
import { errorText, StatusRegion } from './ui';

type Phase =
  | { kind: 'loading' }
  | { kind: 'offline'; message: string }
  | { kind: 'unclaimed' }
  | { kind: 'anonymous'; notice: string }
  | { kind: 'user'; username: string; role: Role };

interface NavItem {
  route: string;
  label: string;
  role: Role;
}

const NAV: NavItem[] = [
  { route: 'live', label: 'Live', role: 'viewer' },
  { route: 'events', label: 'Events', role: 'viewer' },
  { route: 'settings', label: 'Settings', role: 'operator' },
  { route: 'users', label: 'Users', role: 'admin' },
  { route: 'device', label: 'Device', role: 'viewer' },
];

function useRoute(): string {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const onChange = () => setRoute(currentRoute());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function Header(props: { session: SessionState; route: string; deviceName: string }) {
  const [open, setOpen] = useState(false);
  const { session, route } = props;
  useEffect(() => setOpen(false), [route]);
  return (
    <header class="topbar">
      <a class="brand" href="#/live">
        <span class="brand-mark" aria-hidden="true" />
        <span>Freehold</span>
        {props.deviceName && <span class="brand-device">{props.deviceName}</span>}
      </a>
      <button
        type="button"
        class="menu-toggle"
        aria-expanded={open}
        aria-controls="nav-menu"
        onClick={() => setOpen(!open)}
      >
        Menu
      </button>
      <nav id="nav-menu" class={open ? 'nav open' : 'nav'} aria-label="Main">
        <ul>
          {NAV.filter((item) => hasRole(session.role, item.role)).map((item) => (
            <li key={item.route}>
              <a href={`#/${item.route}`} aria-current={route === item.route ? 'page' : undefined}>
                {item.label}
              </a>
            </li>
          ))}
        </ul>
        <div class="nav-user">
          <a href="#/account" aria-current={route === 'account' ? 'page' : undefined} title="Your account">
            {session.username} <span class="role">{session.role}</span>
          </a>
          <button type="button" class="ghost" onClick={() => void session.signOut()}>
            Log out
          </button>
        </div>
      </nav>
    </header>
  );
}

function UserPages(props: { route: string }) {
  switch (props.route) {
    case 'settings':
      return <SettingsPage />;
    case 'events':
      return <EventsPage />;
    case 'users':
      return <UsersPage />;
    case 'device':
      return <DevicePage />;
    case 'account':
      return <AccountPage />;
    default:
      return <LivePage />;
  }
}

function App() {
  const route = useRoute();
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const [deviceName, setDeviceName] = useState('');
  // Where to go after logging in: the page the user was on when the session ended.
  const returnTo = useRef('live');

  async function start() {
    setPhase({ kind: 'loading' });
    try {
      const health = await get<Health>('/api/v1/health');
      if (health.claimed === false) {
        setPhase({ kind: 'unclaimed' });
        return;
      }
      const s = await get<Session>('/api/v1/session');
      setCsrfToken(s.csrf_token);
      setPhase({ kind: 'user', username: s.username, role: s.role });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return; // onUnauthorized has shown the login page
      setPhase({ kind: 'offline', message: errorText(e) });
    }
  }

  useEffect(() => {
    onUnauthorized(() => {
      setCsrfToken('');
      setPhase((p) => {
        if (p.kind === 'anonymous') return p;
        return { kind: 'anonymous', notice: p.kind === 'user' ? 'Your session has ended. Please log in again.' : '' };
      });
    });
    void start();
  }, []);

  // Keep the address bar in step with what is shown.
  useEffect(() => {
    if (phase.kind === 'unclaimed') navigate('claim', true);
    if (phase.kind === 'anonymous') {
      const r = currentRoute();
      if (r && r !== 'login' && r !== 'claim') returnTo.current = r;
      navigate('login', true);
    }
    if (phase.kind === 'user') {
      if (route === 'login' || route === 'claim' || route === '') navigate(returnTo.current, true);
      get<DeviceInfo>('/api/v1/device').then(
        (d) => setDeviceName(d.name),
        () => undefined,
      );
    }
  }, [phase]);

  useEffect(() => {
    document.title = deviceName ? `${deviceName} · Freehold` : 'Freehold';
  }, [deviceName]);

  function signedIn(s: Session) {
    setCsrfToken(s.csrf_token);
    setPhase({ kind: 'user', username: s.username, role: s.role });
  }

  const session = useMemo<SessionState | null>(() => {
    if (phase.kind !== 'user') return null;
    return {
      username: phase.username,
      role: phase.role,
      async signOut(notice = '') {
        try {
          await api('DELETE', '/api/v1/session');
        } catch {
          // Already ended on the device: nothing more to do there.
        }
        setCsrfToken('');
        setPhase({ kind: 'anonymous', notice });
      },
      refresh: start,
    };
  }, [phase]);

  let body;
  if (phase.kind === 'loading') {
    body = <p class="muted narrow">Connecting to the camera…</p>;
  } else if (phase.kind === 'offline') {
    body = (
      <div class="card narrow">
        <h1>The camera does not answer</h1>
        <p>{phase.message}</p>
        <button type="button" class="primary" onClick={() => void start()}>
          Try again
        </button>
      </div>
    );
  } else if (phase.kind === 'user') {
    body = <UserPages key={route} route={route} />;
  } else if (phase.kind === 'unclaimed') {
    body = <ClaimPage onSignedIn={signedIn} onAlreadyClaimed={() => void start()} />;
  } else if (phase.kind === 'anonymous') {
    body = <LoginPage notice={phase.notice} onSignedIn={signedIn} />;
  }

  return (
    <>
      <a class="skip-link" href="#main" onClick={skipToMain}>
        Skip to content
      </a>
      {session ? (
        <SessionContext.Provider value={session}>
          <Header session={session} route={route} deviceName={deviceName} />
          <main id="main" tabIndex={-1}>
            {body}
          </main>
        </SessionContext.Provider>
      ) : (
        <>
          <header class="topbar">
            <span class="brand">
              <span class="brand-mark" aria-hidden="true" />
              <span>Freehold</span>
            </span>
          </header>
          <main id="main" tabIndex={-1}>
            {body}
          </main>
        </>
      )}
      <StatusRegion />
    </>
  );
}

// The skip link must not change the hash: the hash is the route.
function skipToMain(e: Event) {
  e.preventDefault();
  document.getElementById('main')?.focus();
}

render(<App />, document.getElementById('app')!);
