import { create } from 'zustand';
import { getToken, onUnauthorized, setToken } from '../api/client';

interface SessionState {
  loggedIn: boolean;
  /** why the user was sent back to the login form, if not by choice */
  reason: string;
  setLoggedIn(v: boolean, reason?: string): void;
}

export const useSession = create<SessionState>((set) => ({
  loggedIn: getToken() !== null,
  reason: '',
  setLoggedIn: (v, reason = '') => set({ loggedIn: v, reason }),
}));

onUnauthorized(() => {
  setToken(null);
  useSession.getState().setLoggedIn(false, 'Your session has ended: log in again.');
});
