import { useState, type FormEvent } from 'react';
import { login } from '../api/auth';
import { ApiError } from '../api/client';
import { useSession } from './session';

/**
 * loginErrorText says why logging in failed: wrong credentials plainly, other
 * failures (no answer, too many attempts, a server error) with the server's words.
 */
export function loginErrorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401) return 'Wrong username or password.';
    const m = err.info.message.replace(/^login:\s*/i, '');
    return `Could not log in: ${m}${/[.!?]$/.test(m) ? '' : '.'}`;
  }
  return `Could not log in: ${err instanceof Error ? err.message : String(err)}`;
}

export function Login() {
  const reason = useSession((s) => s.reason);
  const setLoggedIn = useSession((s) => s.setLoggedIn);
  const [username, setUsername] = useState('admin');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await login(username, password);
      setLoggedIn(true);
    } catch (err) {
      setError(loginErrorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login">
      <form onSubmit={submit} aria-label="Log in">
        <h1>Sluice</h1>
        {reason && <p className="notice">{reason}</p>}
        <label>
          Username
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required autoFocus />
        </label>
        {error && <p role="alert" className="error">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
      </form>
    </main>
  );
}
