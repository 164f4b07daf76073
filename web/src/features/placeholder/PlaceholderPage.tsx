// The "not found" page for unknown client routes.
import { Link } from 'react-router-dom';
import { PageHeader } from '@/components/Layout';
import { Card } from '@/components/ui/card';
import { Empty } from '@/components/ui/states';

const text = {
  notfound: { title: 'Page not found', body: 'There is nothing at this address.' },
} as const;

export default function PlaceholderPage({ kind }: { kind: keyof typeof text }) {
  const t = text[kind];
  return (
    <div>
      <PageHeader title={t.title} />
      <Card>
        <Empty title="Not found">
          <p>{t.body}</p>
          <p className="mt-2">
            Back to the <Link className="text-primary underline" to="/">Overview</Link>.
          </p>
        </Empty>
      </Card>
    </div>
  );
}
