// Kind-specific tools under an object's page: a secret's reveal, a key's usage.
import { useMemo, useState } from 'react';
import { Alert, Button, Code, Group, SegmentedControl, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { BarChart } from '@mantine/charts';
import type { Api } from './api.tsx';
import { Failure, Loading, go, useLoad } from './ui.tsx';

export function SecretReveal({ api, vault, name }: { api: Api; vault: string; name: string }) {
  const [revealed, setRevealed] = useState<{ value?: string; error?: unknown }>();
  const reveal = () => {
    api.vault<{ value: string }>(vault, `/secrets/${encodeURIComponent(name)}/`).then(
      (s) => setRevealed({ value: s.value }),
      (error: unknown) => setRevealed({ error }),
    );
  };
  return (
    <Stack>
      <Group>
        <Button color="red" variant="light" onClick={reveal} data-testid="reveal">
          Reveal value
        </Button>
        <Text size="sm" c="dimmed">
          Revealing reads the secret (an audited SecretGet, with your name on it).
        </Text>
      </Group>
      {revealed?.value !== undefined && <Code block data-testid="secret-value">{revealed.value}</Code>}
      {revealed?.error !== undefined && <Failure error={revealed.error} />}
    </Stack>
  );
}

type Bucket = { key: string; count: number; success: number; failure: number; lastAt: string | null };
type TimeBucket = { time: string; count: number; success: number; failure: number };
type Usage = { total: number; counting?: string; intervalMs?: number; overTime?: TimeBucket[]; byOperation?: Bucket[]; byPrincipal?: Bucket[]; byAlgorithm?: Bucket[] };

/** Window → its length and the histogram's bucket width (the audit API's `interval`). */
const WINDOWS: Record<string, { ms: number; interval: string }> = { '1h': { ms: 3_600_000, interval: '1m' }, '24h': { ms: 86_400_000, interval: '30m' }, '7d': { ms: 604_800_000, interval: '6h' } };

function Breakdown({ title, buckets, testId }: { title: string; buckets?: Bucket[]; testId: string }) {
  return (
    <Table data-testid={testId}>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>{title}</Table.Th>
          <Table.Th>Operations</Table.Th>
          <Table.Th>Failures</Table.Th>
          <Table.Th>Last</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {(buckets ?? []).map((x) => (
          <Table.Tr key={x.key} bg={x.failure > 0 ? 'var(--mantine-color-red-0)' : undefined}>
            <Table.Td>{x.key}</Table.Td>
            <Table.Td>{x.count}</Table.Td>
            <Table.Td c={x.failure > 0 ? 'red' : undefined} fw={x.failure > 0 ? 700 : undefined}>
              {x.failure}
            </Table.Td>
            <Table.Td>{x.lastAt?.replace('T', ' ').slice(0, 19) ?? ''}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

/**
 * A key's usage from the audit service's aggregations (so filtered by the caller's roles as the
 * audit API filters it): operations over time (a date histogram, failures in red), by operation,
 * principal and algorithm; each operation counted once (the API's `counting: operations`).
 */
export function KeyUsage({ api, vault, name }: { api: Api; vault: string; name: string }) {
  const [window, setWindow] = useState('1h');
  const [who, setWho] = useState(false);
  const [tick, setTick] = useState(0);
  const from = useMemo(() => new Date(Date.now() - WINDOWS[window]!.ms).toISOString(), [window, tick]);
  const usage = useLoad(
    () => api.audit<Usage>(`/audit/usage?${new URLSearchParams({ vault, object: `${vault}/keys/${name}`, by: 'operation,principal,algorithm', from, interval: WINDOWS[window]!.interval })}`),
    [vault, name, from],
  );
  const chart = (usage.data?.overTime ?? []).map((b) => ({
    time: window === '7d' ? b.time.slice(5, 13).replace('T', ' ') + 'h' : b.time.slice(11, 16),
    success: b.success,
    failure: b.failure,
  }));
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={3}>Usage</Title>
        <Group>
          <SegmentedControl value={window} onChange={setWindow} data={Object.keys(WINDOWS)} data-testid="usage-window" />
          <Button
            variant="light"
            onClick={() => {
              setWindow('1h');
              setWho(true);
            }}
            data-testid="who-used-button"
          >
            Who used this key in the last hour
          </Button>
        </Group>
      </Group>
      <Loading state={usage}>
        {() => (
          <Stack data-testid="usage">
            <Group>
              <Text size="sm" data-testid="usage-total">
                {usage.data?.total ?? 0} operations
              </Text>
              <Text size="xs" c="dimmed">
                {usage.data?.counting === 'operations' ? 'each operation counted once (the crypto service’s step of a vault request is not counted again)' : ''}
              </Text>
              <Button size="xs" variant="subtle" onClick={() => setTick((t) => t + 1)} data-testid="usage-reload">
                Refresh
              </Button>
            </Group>
            {who && (
              <Alert title="Who used this key in the last hour" withCloseButton onClose={() => setWho(false)} data-testid="who-used">
                <Breakdown title="Principal" buckets={usage.data?.byPrincipal} testId="who-used-table" />
                <Button
                  size="xs"
                  variant="subtle"
                  onClick={() => go(`#/audit?${new URLSearchParams({ object: `${vault}/keys/${name}`, service: 'vault', from: new Date(Date.now() - 3_600_000).toISOString() })}`)}
                >
                  Their audit records
                </Button>
              </Alert>
            )}
            <Title order={5}>Operations over time ({WINDOWS[window]!.interval} buckets)</Title>
            <BarChart
              h={220}
              data={chart}
              dataKey="time"
              type="stacked"
              data-testid="usage-histogram"
              series={[
                { name: 'success', color: 'teal.6' },
                { name: 'failure', color: 'red.6' },
              ]}
            />
            <SimpleGrid cols={{ base: 1, lg: 3 }}>
              <Breakdown title="Operation" buckets={usage.data?.byOperation} testId="usage-by-operation" />
              <Breakdown title="Principal" buckets={usage.data?.byPrincipal} testId="usage-by-principal" />
              <Breakdown title="Algorithm" buckets={usage.data?.byAlgorithm} testId="usage-by-algorithm" />
            </SimpleGrid>
          </Stack>
        )}
      </Loading>
    </Stack>
  );
}
