// Reports & exports over the existing API: generate security / performance / compliance reports
// (queued, with progress), preview one (its summary and tables, and the PDF itself), download it
// as PDF, CSV or JSON; daily / weekly schedules; forensic exports streamed as NDJSON or CSV with
// their SHA-256 manifest. The tab is in the URL (?tab=). Analysts and Admins get reports
// (compliance: Admin only, it shows the audit log); device owners export their own devices.
import { useSearchParams } from 'react-router-dom';
import { PageHeader } from '@/components/Layout';
import { Tabs, TabsContent, TabsList, TabsTrigger } from '@/components/ui/tabs';
import { useAuth, can } from '@/stores/auth';
import { ReportsPanel } from './ReportsPanel';
import { SchedulesPanel } from './SchedulesPanel';
import { ExportsPanel } from './ExportsPanel';

export default function ReportsPage() {
  const role = useAuth((s) => s.user?.role);
  const reports = can(role, 'read_all');
  const tabs = [
    { value: 'reports', label: 'Reports', show: reports },
    { value: 'schedules', label: 'Schedules', show: reports },
    { value: 'exports', label: 'Forensic exports', show: true },
  ].filter((t) => t.show);
  const [params, setParams] = useSearchParams();
  const asked = params.get('tab');
  const tab = tabs.some((t) => t.value === asked) ? asked! : tabs[0].value;
  return (
    <div>
      <PageHeader title="Reports & exports" description="Security, performance and compliance reports; forensic exports with a SHA-256 manifest" />
      <Tabs value={tab} onValueChange={(v) => setParams(v === tabs[0].value ? {} : { tab: v }, { replace: true })}>
        <TabsList className="h-auto flex-wrap">
          {tabs.map((t) => <TabsTrigger key={t.value} value={t.value}>{t.label}</TabsTrigger>)}
        </TabsList>
        {reports && <TabsContent value="reports"><ReportsPanel /></TabsContent>}
        {reports && <TabsContent value="schedules"><SchedulesPanel /></TabsContent>}
        <TabsContent value="exports"><ExportsPanel /></TabsContent>
      </Tabs>
    </div>
  );
}
