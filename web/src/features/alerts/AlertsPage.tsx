// Alerts: history with delivery status, the rules editor, and (Admins) channels, policies and
// delivery settings; everyone edits their own contacts. The tab is in the URL (?tab=) so links
// can point at it. Tabs a role may not use are not shown (the server refuses them regardless).
import { useSearchParams } from 'react-router-dom';
import { PageHeader } from '@/components/Layout';
import { Tabs, TabsContent, TabsList, TabsTrigger } from '@/components/ui/tabs';
import { useAuth, can } from '@/stores/auth';
import { AlertHistory } from './AlertHistory';
import { RulesPanel } from './RulesPanel';
import { ChannelsPanel } from './ChannelsPanel';
import { PoliciesPanel } from './PoliciesPanel';
import { AlertSettingsPanel } from './AlertSettingsPanel';
import { ContactsPanel } from './ContactsPanel';

export default function AlertsPage() {
  const role = useAuth((s) => s.user?.role);
  const admin = can(role, 'alert_admin');
  const tabs = [
    { value: 'history', label: 'History', show: true },
    { value: 'rules', label: 'Rules', show: true },
    { value: 'channels', label: 'Channels', show: admin },
    { value: 'policies', label: 'Policies', show: admin },
    { value: 'settings', label: 'Delivery settings', show: admin },
    { value: 'contacts', label: 'My contacts', show: true },
  ].filter((t) => t.show);
  const [params, setParams] = useSearchParams();
  const asked = params.get('tab');
  const tab = tabs.some((t) => t.value === asked) ? asked! : 'history';
  return (
    <div>
      <PageHeader title="Alerts" description="Rules raise anomalies; policies send them through channels to people and systems" />
      <Tabs value={tab} onValueChange={(v) => setParams(v === 'history' ? {} : { tab: v }, { replace: true })}>
        <TabsList className="h-auto flex-wrap">
          {tabs.map((t) => <TabsTrigger key={t.value} value={t.value}>{t.label}</TabsTrigger>)}
        </TabsList>
        <TabsContent value="history"><AlertHistory /></TabsContent>
        <TabsContent value="rules"><RulesPanel /></TabsContent>
        {admin && <TabsContent value="channels"><ChannelsPanel /></TabsContent>}
        {admin && <TabsContent value="policies"><PoliciesPanel /></TabsContent>}
        {admin && <TabsContent value="settings"><AlertSettingsPanel /></TabsContent>}
        <TabsContent value="contacts"><ContactsPanel /></TabsContent>
      </Tabs>
    </div>
  );
}
