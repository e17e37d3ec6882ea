// The dashboard: volumes, protection methods, delivery and bounce rates and portal engagement over
// a chosen period, from /v1/reports/messages, /deliverability and /portal.
import { useMemo, useState } from 'react';
import { api, query } from '../api.ts';
import { ErrorText, PageTitle, Status, useLoad } from '../ui.tsx';
import { Chart, type Series } from './Chart.tsx';

type Row = Record<string, number | string | null> & { bucket: string };
interface Report {
  data: Row[];
  totals: Record<string, number | null>;
}

const PERIODS = [
  { days: 1, label: 'Last 24 hours', interval: 'hour' },
  { days: 7, label: 'Last 7 days', interval: 'day' },
  { days: 30, label: 'Last 30 days', interval: 'day' },
  { days: 90, label: 'Last 90 days', interval: 'week' },
];
const COLOURS = ['#1b5e9e', '#2e7d32', '#8e24aa', '#c75b00', '#b00020', '#455a64'];

function series(rows: Row[], names: [string, string][]): { times: number[]; series: Series[] } {
  return {
    times: rows.map((r) => Math.floor(new Date(r.bucket).getTime() / 1000)),
    series: names.map(([name, label], i) => ({
      label,
      colour: COLOURS[i % COLOURS.length]!,
      values: rows.map((r) => (typeof r[name] === 'number' ? (r[name] as number) : null)),
    })),
  };
}

export default function Dashboard() {
  const [days, setDays] = useState(7);
  const period = PERIODS.find((p) => p.days === days)!;
  const reports = useLoad(async () => {
    const params = query({
      from: new Date(Date.now() - days * 86_400_000).toISOString(),
      interval: period.interval,
    });
    const [messages, deliverability, portal] = await Promise.all(
      ['messages', 'deliverability', 'portal'].map((r) => api<Report>('GET', `/v1/reports/${r}${params}`)),
    );
    return { messages: messages!, deliverability: deliverability!, portal: portal! };
  }, [days, period.interval]);

  const charts = useMemo(() => {
    const r = reports.data;
    if (!r) return null;
    return {
      volume: series(r.messages.data, [
        ['messages', 'Messages'],
        ['recipients', 'Recipients'],
      ]),
      methods: series(r.messages.data, [
        ['method_pgp', 'OpenPGP'],
        ['method_smime', 'S/MIME'],
        ['method_tls', 'Enforced TLS'],
        ['method_portal', 'Portal'],
      ]),
      delivery: series(r.deliverability.data, [
        ['accepted', 'Accepted'],
        ['bounced', 'Bounced'],
        ['failed', 'Failed'],
      ]),
      portal: series(r.portal.data, [
        ['notified', 'Notified'],
        ['viewed', 'Viewed'],
        ['replied', 'Replied'],
      ]),
    };
  }, [reports.data]);

  const totals = reports.data;
  const rate = (value: number | null | undefined) => (value == null ? '—' : `${(value * 100).toFixed(1)} %`);
  return (
    <>
      <PageTitle>Dashboard</PageTitle>
      <div className="filters">
        <div>
          <label htmlFor="period">Period</label>
          <select id="period" value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {PERIODS.map((p) => (
              <option key={p.days} value={p.days}>
                {p.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorText error={reports.error} />
      {!totals || !charts ? (
        <Status>Loading reports…</Status>
      ) : (
        <>
          <dl className="figures">
            <div>
              <dt>Messages</dt>
              <dd>{totals.messages.totals.messages ?? 0}</dd>
            </div>
            <div>
              <dt>Recipients</dt>
              <dd>{totals.messages.totals.recipients ?? 0}</dd>
            </div>
            <div>
              <dt>Bounce rate</dt>
              <dd>{rate(totals.deliverability.totals.bounce_rate)}</dd>
            </div>
            <div>
              <dt>Portal views</dt>
              <dd>{totals.portal.totals.viewed ?? 0}</dd>
            </div>
          </dl>
          <div className="charts">
            <Chart title="Volume" {...charts.volume} />
            <Chart title="Protection methods" {...charts.methods} />
            <Chart title="Delivery" {...charts.delivery} />
            <Chart title="Portal engagement" {...charts.portal} />
          </div>
        </>
      )}
    </>
  );
}
