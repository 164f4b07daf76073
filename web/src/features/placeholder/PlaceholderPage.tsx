// Incidents and Alerts arrive with the incidents feature; until then a clear placeholder.
import { Link } from 'react-router-dom';
import { PageHeader } from '@/components/Layout';
import { Card } from '@/components/ui/card';
import { Empty } from '@/components/ui/states';

const text = {
  incidents: {
    title: 'Incidents',
    body: 'The incident board (New / Investigating / Resolved, assignment, comments and linked anomalies) arrives with the incidents feature.',
  },
  alerts: {
    title: 'Alerts',
    body: 'Alert history with delivery status, channels, policies and the rules editor arrive with the alerting feature.',
  },
  notfound: { title: 'Page not found', body: 'There is nothing at this address.' },
} as const;

export default function PlaceholderPage({ kind }: { kind: keyof typeof text }) {
  const t = text[kind];
  return (
    <div>
      <PageHeader title={t.title} />
      <Card>
        <Empty title={kind === 'notfound' ? 'Not found' : 'Coming soon'}>
          <p>{t.body}</p>
          <p className="mt-2">
            Meanwhile, see <Link className="text-primary underline" to="/anomalies">Anomalies</Link>.
          </p>
        </Empty>
      </Card>
    </div>
  );
}
