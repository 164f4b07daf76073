// Shown on every page while the server does not answer: the data on screen is what was loaded
// before and may be out of date. Disappears (and the stores refetch) when the server is back.
import { useEffect, useState } from 'react';
import { WifiOff } from 'lucide-react';
import { probeServer, useConnection } from '@/stores/connection';
import { fmtAgo } from '@/lib/utils';
import { Button } from './ui/button';

export function ConnectionBanner() {
  const { reachable, downSince, lastContact } = useConnection();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (reachable) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [reachable]);
  if (reachable) return null;
  return (
    <div role="alert" data-testid="server-down" className="flex flex-wrap items-center gap-2 border-b border-warning/40 bg-warning/15 px-4 py-2 text-sm">
      <WifiOff className="size-4 shrink-0" aria-hidden />
      <span>
        <strong>Cannot reach iotad</strong> since {new Date(downSince ?? now).toLocaleTimeString()}. What you see was loaded{' '}
        {fmtAgo(lastContact, now)} and may be out of date; retrying…
      </span>
      <Button size="sm" variant="outline" className="ml-auto" onClick={() => void probeServer()}>
        Retry now
      </Button>
    </div>
  );
}
