// Error boundaries. A view that throws (a bug, or its code split chunk failing to load after the
// server was upgraded or while it is down) shows an explanation inside the shell, so the
// navigation keeps working. A chunk-load error recovers by itself: once the server answers, the
// page reloads (at most once per RELOAD_GUARD_MS, so a broken deployment cannot loop) and gets
// the current index.html with the current chunk names.
import { Component, type ErrorInfo, type ReactNode } from 'react';
import { AlertTriangle, RefreshCw, WifiOff } from 'lucide-react';
import { Button } from './ui/button';
import { probeServer, PROBE_INTERVAL_MS } from '@/stores/connection';

const RELOAD_KEY = 'iotad.chunkReloadAt';
export const RELOAD_GUARD_MS = 30_000;

/** Errors of a dynamic import / preload (Chromium, Firefox, Safari wording; Vite's preload). */
export function isChunkLoadError(e: unknown): boolean {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return /Failed to fetch dynamically imported module|error loading dynamically imported module|Importing a module script failed|Unable to preload CSS|ChunkLoadError|Loading chunk \S+ failed/i.test(msg);
}

/** Whether an automatic reload may happen now (none in the last RELOAD_GUARD_MS); records it. */
export function claimAutoReload(store: Pick<Storage, 'getItem' | 'setItem'>, now = Date.now()): boolean {
  const last = Number(store.getItem(RELOAD_KEY) ?? 0);
  if (Number.isFinite(last) && now - last < RELOAD_GUARD_MS) return false;
  store.setItem(RELOAD_KEY, String(now));
  return true;
}

interface Props {
  children: ReactNode;
  /** "view" inside the shell, "app" around everything (last resort) */
  scope?: 'view' | 'app';
}
interface State {
  error: unknown;
  chunk: boolean;
  /** chunk error: the server does not answer (yet) */
  waiting: boolean;
  /** chunk error: an automatic reload already happened recently, so it is up to the user */
  manual: boolean;
}

export class ErrorBoundary extends Component<Props, State> {
  state: State = { error: null, chunk: false, waiting: false, manual: false };
  private timer: ReturnType<typeof setTimeout> | null = null;
  private unmounted = false;

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error, chunk: isChunkLoadError(error) };
  }

  componentDidCatch(error: unknown, info: ErrorInfo): void {
    console.error('view failed', error, info.componentStack);
    if (this.state.chunk || isChunkLoadError(error)) void this.recover();
  }

  componentWillUnmount(): void {
    this.unmounted = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Waits for the server, then reloads once. */
  private async recover(): Promise<void> {
    if (this.unmounted) return;
    const up = await probeServer();
    if (this.unmounted) return;
    if (!up) {
      this.setState({ waiting: true });
      this.timer = setTimeout(() => void this.recover(), PROBE_INTERVAL_MS);
      return;
    }
    if (claimAutoReload(sessionStorage)) location.reload();
    else this.setState({ waiting: false, manual: true });
  }

  private retry = () => this.setState({ error: null, chunk: false, waiting: false, manual: false });

  render(): ReactNode {
    const { error, chunk, waiting, manual } = this.state;
    if (!error) return this.props.children;
    const app = this.props.scope === 'app';
    return (
      <div role="alert" data-testid="view-error" className={app ? 'flex h-full items-center justify-center p-6' : 'p-2'}>
        <div className="mx-auto flex max-w-lg flex-col items-center gap-3 rounded-lg border bg-card p-6 text-center text-card-foreground">
          {chunk && waiting ? <WifiOff className="size-8 text-warning" aria-hidden /> : <AlertTriangle className="size-8 text-destructive" aria-hidden />}
          {chunk ? (
            <>
              <h2 className="text-lg font-semibold">{waiting ? 'Cannot reach the server' : 'This view could not be loaded'}</h2>
              <p className="text-sm text-muted-foreground">
                {waiting
                  ? 'iotad is not answering (stopped or being upgraded). This page reloads by itself as soon as it is back.'
                  : manual
                    ? 'The dashboard was reloaded a moment ago and this part still fails to load. Reload once more, or check the server.'
                    : 'The dashboard was updated on the server. Reloading…'}
              </p>
            </>
          ) : (
            <>
              <h2 className="text-lg font-semibold">Something went wrong in this view</h2>
              <p className="text-sm text-muted-foreground">{error instanceof Error ? error.message : String(error)}</p>
            </>
          )}
          <div className="flex gap-2">
            {!chunk && !app && (
              <Button variant="outline" onClick={this.retry}>
                Try again
              </Button>
            )}
            <Button onClick={() => location.reload()}>
              <RefreshCw aria-hidden /> Reload the page
            </Button>
          </div>
        </div>
      </div>
    );
  }
}
