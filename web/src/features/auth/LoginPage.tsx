// Login form. On success returns to the page the user came from; shows "session expired"
// after a 401 sent the user here.
import { useState } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router-dom';
import { Activity, Loader2 } from 'lucide-react';
import { useAuth } from '@/stores/auth';
import { Button } from '@/components/ui/button';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Card, CardContent, CardHeader } from '@/components/ui/card';
import { ApiError } from '@/api/client';

export function LoginPage() {
  const { status, expired, login } = useAuth();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? '/';

  if (status === 'authenticated') return <Navigate to={from} replace />;

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(email.trim(), password);
      navigate(from, { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError('Wrong e-mail or password.');
      else if (err instanceof ApiError && err.status === 429) setError('Too many attempts. Try again later.');
      else setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="flex min-h-full items-center justify-center bg-background p-4">
      <Card className="w-full max-w-sm">
        <CardHeader className="items-center gap-2 pb-4 text-center">
          <Activity className="size-8 text-primary" aria-hidden />
          <h1 className="text-xl font-semibold">Sign in to iotad</h1>
          <p className="text-sm text-muted-foreground">Real-time anomaly detection for your devices</p>
        </CardHeader>
        <CardContent>
          <form onSubmit={submit} className="space-y-4" aria-describedby={error ? 'login-error' : undefined}>
            {expired && !error && (
              <p role="status" className="rounded-md bg-warning/15 p-2 text-sm text-warning">
                Your session expired. Please sign in again.
              </p>
            )}
            {error && (
              <p id="login-error" role="alert" className="rounded-md bg-destructive/15 p-2 text-sm text-destructive">
                {error}
              </p>
            )}
            <div className="space-y-2">
              <Label htmlFor="email">E-mail</Label>
              <Input id="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} autoFocus />
            </div>
            <div className="space-y-2">
              <Label htmlFor="password">Password</Label>
              <Input id="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
            </div>
            <Button type="submit" className="w-full" disabled={busy}>
              {busy && <Loader2 className="animate-spin" aria-hidden />}
              Sign in
            </Button>
          </form>
        </CardContent>
      </Card>
    </main>
  );
}
