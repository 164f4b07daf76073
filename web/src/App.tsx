// Routes and the auth gate. Views are code-split (React.lazy) so the first load stays small.
import { lazy, Suspense, useEffect } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { useAuth, can } from '@/stores/auth';
import { startLive, stopLive } from '@/stores/live';
import { Layout } from '@/components/Layout';
import { Loading } from '@/components/ui/states';
import { LoginPage } from '@/features/auth/LoginPage';

const OverviewPage = lazy(() => import('@/features/overview/OverviewPage'));
const DevicesPage = lazy(() => import('@/features/devices/DevicesPage'));
const DeviceDetailPage = lazy(() => import('@/features/devices/DeviceDetailPage'));
const AnomaliesPage = lazy(() => import('@/features/anomalies/AnomaliesPage'));
const SecurityPage = lazy(() => import('@/features/security/SecurityPage'));
const AdminPage = lazy(() => import('@/features/admin/AdminPage'));
const AlertsPage = lazy(() => import('@/features/alerts/AlertsPage'));
const IncidentsPage = lazy(() => import('@/features/incidents/IncidentsPage'));
const IncidentDetailPage = lazy(() => import('@/features/incidents/IncidentDetailPage'));
const ReportsPage = lazy(() => import('@/features/reports/ReportsPage'));
const PlaceholderPage = lazy(() => import('@/features/placeholder/PlaceholderPage'));

function RequireAuth({ children }: { children: React.ReactNode }) {
  const status = useAuth((s) => s.status);
  const location = useLocation();
  useEffect(() => {
    if (status === 'authenticated') startLive();
    else stopLive();
  }, [status]);
  if (status === 'unknown') return <Loading label="Checking session…" className="h-full" />;
  if (status === 'anonymous') return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  return <>{children}</>;
}

function AdminOnly({ children }: { children: React.ReactNode }) {
  const role = useAuth((s) => s.user?.role);
  if (!can(role, 'admin')) return <Navigate to="/" replace />;
  return <>{children}</>;
}

export default function App() {
  const check = useAuth((s) => s.check);
  useEffect(() => {
    void check();
  }, [check]);
  return (
    <BrowserRouter>
      <Suspense fallback={<Loading className="h-full" />}>
        <Routes>
          <Route path="/login" element={<LoginPage />} />
          <Route
            element={
              <RequireAuth>
                <Layout />
              </RequireAuth>
            }
          >
            <Route index element={<OverviewPage />} />
            <Route path="devices" element={<DevicesPage />} />
            <Route path="devices/:id" element={<DeviceDetailPage />} />
            <Route path="anomalies" element={<AnomaliesPage />} />
            <Route path="security" element={<SecurityPage />} />
            <Route path="incidents" element={<IncidentsPage />} />
            <Route path="incidents/:id" element={<IncidentDetailPage />} />
            <Route path="alerts" element={<AlertsPage />} />
            <Route path="reports" element={<ReportsPage />} />
            <Route
              path="admin"
              element={
                <AdminOnly>
                  <AdminPage />
                </AdminOnly>
              }
            />
            <Route path="*" element={<PlaceholderPage kind="notfound" />} />
          </Route>
        </Routes>
      </Suspense>
    </BrowserRouter>
  );
}
