import { request, setToken } from './client';
import type { TokenAnswer } from './types';

export async function login(username: string, password: string): Promise<TokenAnswer> {
  const a = await request<TokenAnswer>('/api/v1/auth/login', { method: 'POST', body: { username, password }, what: 'log in' });
  setToken(a.token);
  return a;
}

export async function logout(): Promise<void> {
  try {
    await request<void>('/api/v1/auth/logout', { method: 'POST', what: 'log out' });
  } finally {
    setToken(null);
  }
}

/** ticket returns a single-use ticket for a WebSocket (?ticket=). */
export async function ticket(): Promise<string> {
  const a = await request<{ ticket: string }>('/api/v1/auth/ticket', { method: 'POST', what: 'open a live connection' });
  return a.ticket;
}
