// SPDX-License-Identifier: GPL-3.0-or-later
// Who is logged in, shared by every page, and the hash routes (#/live, ...) the device's single index.html serves.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Role } from './api';

export interface SessionState {
  username: string;
  role: Role;
  // Ends the session on the device and shows the login page, with `notice` there if given.
  signOut(notice?: string): Promise<void>;
  // Reads the session again from the device (after one's own role changed).
  refresh(): Promise<void>;
}

export const SessionContext = createContext<SessionState | null>(null);

export function useSession(): SessionState {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a logged-in page');
  return session;
}

export function currentRoute(): string {
  return location.hash.replace(/^#\/?/, '').split(/[/?]/)[0];
}

export function navigate(route: string, replace = false): void {
  const hash = `#/${route}`;
  if (location.hash === hash) return;
  if (replace) location.replace(hash);
  else location.hash = hash;
}
