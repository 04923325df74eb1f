/** The login form: user and password, the server's message beside the field it names. */
import { useState } from 'preact/hooks';
import { ApiError, login } from '../api.js';

/** Props of {@link LoginForm}. */
export interface LoginFormProps {
  serverLabel: string;
  notice: string | null;
  onLoggedIn: () => void;
}

/** Shows the login form and calls `onLoggedIn` once the server accepted the credentials. */
export function LoginForm({ serverLabel, notice, onLoggedIn }: LoginFormProps) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<{ field: string | null; message: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (user === '') return setError({ field: 'user', message: 'enter your user name' });
    if (password === '') return setError({ field: 'password', message: 'enter your password' });
    setBusy(true);
    try {
      await login(user, password);
      setError(null);
      onLoggedIn();
    } catch (err) {
      setError(err instanceof ApiError ? { field: err.field ?? 'password', message: err.message } : { field: null, message: String(err) });
    } finally {
      setBusy(false);
    }
  };

  const fieldError = (field: string) =>
    error?.field === field ? (
      <span class="field-error" role="alert" data-field={field}>
        {error.message}
      </span>
    ) : null;

  return (
    <form class="login" onSubmit={(e) => void submit(e)} aria-label="login">
      <h1>blockrig</h1>
      <p class="muted">Log in to {serverLabel}</p>
      {notice === null ? null : <p class="notice">{notice}</p>}
      <label>
        User
        <input name="user" autocomplete="username" value={user} onInput={(e) => setUser(e.currentTarget.value)} />
        {fieldError('user')}
      </label>
      <label>
        Password
        <input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        {fieldError('password')}
      </label>
      {error !== null && error.field === null ? <p class="field-error">{error.message}</p> : null}
      <button type="submit" disabled={busy}>
        Log in
      </button>
    </form>
  );
}
