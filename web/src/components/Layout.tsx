// App shell: skip link, sidebar navigation (role-aware), header with live-connection state,
// theme toggle and user menu, and the routed page in <main>.
import { Suspense, useEffect, useState } from 'react';
import { NavLink, Outlet, useLocation, useNavigate } from 'react-router-dom';
import {
  Activity, Bell, Cpu, FileText, LayoutDashboard, LogOut, Menu, Moon, ShieldAlert, Siren, Sun, TriangleAlert, UserCog, Users,
} from 'lucide-react';
import { Dialog, DialogContent, DialogDescription, DialogTitle } from './ui/dialog';
import { useAuth, can } from '@/stores/auth';
import { useTheme } from '@/stores/theme';
import { useStreamState } from '@/stores/live';
import { Button } from './ui/button';
import {
  DropdownMenu, DropdownMenuContent, DropdownMenuItem, DropdownMenuLabel, DropdownMenuSeparator, DropdownMenuTrigger,
} from './ui/dropdown-menu';
import { cn } from '@/lib/utils';
import { ErrorBoundary } from './ErrorBoundary';
import { ConnectionBanner } from './ConnectionBanner';
import { Loading } from './ui/states';

const roleLabel = { admin: 'Admin', analyst: 'Analyst', device_owner: 'Device owner' } as const;

export function Layout() {
  const user = useAuth((s) => s.user);
  const logout = useAuth((s) => s.logout);
  const { theme, toggle } = useTheme();
  const stream = useStreamState((s) => s.state);
  const navigate = useNavigate();
  const { pathname } = useLocation();
  const [menu, setMenu] = useState(false);
  useEffect(() => setMenu(false), [pathname]);
  const links = (className: string) =>
    nav.filter((n) => n.show).map((n) => (
      <NavLink
        key={n.to}
        to={n.to}
        end={n.to === '/'}
        className={({ isActive }) =>
          cn(
            'flex items-center gap-2 rounded-md px-3 py-2 text-sm font-medium text-muted-foreground hover:bg-accent hover:text-accent-foreground focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring',
            isActive && 'bg-accent text-accent-foreground',
            className,
          )
        }
      >
        <n.icon className="size-4" aria-hidden />
        {n.label}
      </NavLink>
    ));
  const nav = [
    { to: '/', label: 'Overview', icon: LayoutDashboard, show: true },
    { to: '/devices', label: 'Devices', icon: Cpu, show: true },
    { to: '/anomalies', label: 'Anomalies', icon: TriangleAlert, show: true },
    { to: '/security', label: 'Security', icon: ShieldAlert, show: true },
    { to: '/incidents', label: 'Incidents', icon: Siren, show: true },
    { to: '/alerts', label: 'Alerts', icon: Bell, show: true },
    { to: '/reports', label: 'Reports', icon: FileText, show: true },
    { to: '/admin', label: 'Admin', icon: UserCog, show: can(user?.role, 'admin') },
  ];
  return (
    <div className="flex h-full">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-card focus:p-2"
      >
        Skip to content
      </a>
      <aside className="hidden w-52 shrink-0 flex-col border-r bg-card md:flex">
        <div className="flex h-14 items-center gap-2 border-b px-4 font-semibold">
          <Activity className="size-5 text-primary" aria-hidden />
          iotad
        </div>
        <nav aria-label="Main" className="flex flex-col gap-1 p-2">
          {links('')}
        </nav>
      </aside>
      <div className="flex min-w-0 flex-1 flex-col">
        <header className="flex h-14 shrink-0 items-center justify-between gap-2 border-b bg-card px-4">
          {/* phones: a menu instead of a strip of links that does not fit */}
          <div className="flex min-w-0 items-center gap-1 md:hidden">
            <Button variant="ghost" size="icon" aria-label="Open the menu" aria-expanded={menu} onClick={() => setMenu(true)} data-testid="menu-button">
              <Menu />
            </Button>
            <span className="flex items-center gap-1.5 font-semibold">
              <Activity className="size-4 text-primary" aria-hidden /> iotad
            </span>
          </div>
          <Dialog open={menu} onOpenChange={setMenu}>
            <DialogContent className="left-0 top-0 h-full max-h-none w-64 max-w-[80vw] translate-x-0 translate-y-0 content-start rounded-none border-r p-4">
              <DialogTitle className="flex items-center gap-2 text-base">
                <Activity className="size-5 text-primary" aria-hidden /> iotad
              </DialogTitle>
              <DialogDescription className="sr-only">Go to another view</DialogDescription>
              <nav aria-label="Main (menu)" className="flex flex-col gap-1">
                {links('py-2.5')}
              </nav>
            </DialogContent>
          </Dialog>
          <div className="flex items-center gap-2 text-xs text-muted-foreground" data-testid="stream-state" title="Live updates">
            <span
              aria-hidden
              className={cn('size-2 rounded-full', stream === 'open' ? 'bg-success' : stream === 'connecting' ? 'bg-warning' : 'bg-destructive')}
            />
            <span className={cn(stream === 'open' && 'sr-only sm:not-sr-only')}>{stream === 'open' ? 'Live' : stream === 'connecting' ? 'Connecting…' : 'Reconnecting…'}</span>
          </div>
          <div className="flex items-center gap-1">
            <Button
              variant="ghost"
              size="icon"
              onClick={toggle}
              aria-label={theme === 'dark' ? 'Switch to light theme' : 'Switch to dark theme'}
            >
              {theme === 'dark' ? <Sun /> : <Moon />}
            </Button>
            <DropdownMenu>
              <DropdownMenuTrigger asChild>
                <Button variant="ghost" className="gap-2" data-testid="user-menu">
                  <Users aria-hidden />
                  <span className="hidden max-w-40 truncate sm:inline">{user?.name || user?.email}</span>
                  <span className="sr-only sm:hidden">{user?.name || user?.email}</span>
                </Button>
              </DropdownMenuTrigger>
              <DropdownMenuContent align="end">
                <DropdownMenuLabel>
                  {user?.email}
                  <br />
                  {user ? roleLabel[user.role] : ''}
                </DropdownMenuLabel>
                <DropdownMenuSeparator />
                <DropdownMenuItem
                  onSelect={async () => {
                    await logout();
                    navigate('/login');
                  }}
                >
                  <LogOut /> Log out
                </DropdownMenuItem>
              </DropdownMenuContent>
            </DropdownMenu>
          </div>
        </header>
        <ConnectionBanner />
        <main id="main" tabIndex={-1} className="min-h-0 flex-1 overflow-auto p-4 focus:outline-none md:p-6">
          {/* per view: a failing view (or its chunk) leaves the shell and navigation working */}
          <ErrorBoundary key={pathname}>
            <Suspense fallback={<Loading className="h-full" />}>
              <Outlet />
            </Suspense>
          </ErrorBoundary>
        </main>
      </div>
    </div>
  );
}

export function PageHeader({ title, description, children }: { title: string; description?: string; children?: React.ReactNode }) {
  return (
    <div className="mb-4 flex flex-wrap items-end justify-between gap-3">
      <div>
        <h1 className="text-xl font-semibold tracking-tight">{title}</h1>
        {description && <p className="text-sm text-muted-foreground">{description}</p>}
      </div>
      {children && <div className="flex flex-wrap items-center gap-2">{children}</div>}
    </div>
  );
}
