// Small pieces every page uses: loading state, the API's failures as the API said them, times, fields.
import { useEffect, useState, type ReactNode } from 'react';
import { Alert, Badge, Loader, Table } from '@mantine/core';
import { ApiError } from './api.tsx';

export const go = (hash: string): void => {
  location.hash = hash;
};

/** The object name in an Azure object id (`https://{vault}…/{collection}/{name}/{version}`). */
export const nameOf = (id: string): string => decodeURIComponent(id.split('/')[4] ?? id);
export const versionOf = (id: string): string => decodeURIComponent(id.split('/')[5] ?? '');

export const when = (s: number | string | Date | undefined | null): string => {
  if (s === undefined || s === null || s === '') return '—';
  const d = typeof s === 'number' ? new Date(s * 1000) : new Date(s);
  return Number.isNaN(d.getTime()) ? '—' : d.toISOString().replace('T', ' ').slice(0, 19);
};

/** Shows an API failure as the API said it: status, code, message (a 403 stays a 403). */
export function Failure({ error }: { error: unknown }) {
  if (error instanceof ApiError) {
    return (
      <Alert color={error.status === 403 ? 'orange' : 'red'} title={error.status === 403 ? `403 Forbidden — your roles do not allow this` : `${error.status} ${error.code}`} data-testid="api-error">
        {error.code}: {error.message}
      </Alert>
    );
  }
  return <Alert color="red">{error instanceof Error ? error.message : String(error)}</Alert>;
}

export type LoadState<T> = { data?: T; error?: unknown; loading: boolean; reload: () => void };

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): LoadState<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState({ loading: true });
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error: unknown) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export function Loading({ state, children }: { state: { error?: unknown; loading: boolean }; children: () => ReactNode }) {
  if (state.loading) return <Loader size="sm" />;
  if (state.error) return <Failure error={state.error} />;
  return <>{children()}</>;
}

export const Tags = ({ tags }: { tags?: Record<string, string> | null }) => (
  <>
    {Object.entries(tags ?? {}).map(([k, v]) => (
      <Badge key={k} variant="light" mr={4}>{`${k}=${v}`}</Badge>
    ))}
  </>
);

/** A label → value table (a detail section). */
export type Field = readonly [label: string, value: ReactNode];

export function Fields({ fields, testId }: { fields: readonly Field[]; testId?: string }) {
  return (
    <Table withRowBorders={false} verticalSpacing={4} data-testid={testId}>
      <Table.Tbody>
        {fields.map(([label, value]) => (
          <Table.Tr key={label}>
            <Table.Th w={200} style={{ verticalAlign: 'top' }}>
              {label}
            </Table.Th>
            <Table.Td>{value ?? '—'}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
