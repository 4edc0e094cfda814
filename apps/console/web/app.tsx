import { useEffect, useMemo, useState, type ReactNode } from 'react';
import { Alert, AppShell, Badge, Button, Center, Code, Drawer, Group, Loader, NavLink, SegmentedControl, Select, Stack, Switch, Table, Tabs, Text, TextInput, Title } from '@mantine/core';
import { BarChart } from '@mantine/charts';
import { ApiError, makeApi, type Api, type AuditDoc } from './api.tsx';
import { Session, loadConfig, signIn, type ConsoleConfig } from './auth.tsx';

// Client-side routes in the hash: #/vaults, #/vaults/{v}, #/vaults/{v}/secrets/{n}, #/vaults/{v}/keys/{n}, #/audit, #/rbac.
type Route = { page: 'vaults' } | { page: 'vault'; vault: string } | { page: 'secret' | 'key'; vault: string; name: string } | { page: 'audit'; object?: string; from?: string } | { page: 'rbac' };

function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const q = new URLSearchParams(query);
  if (parts[0] === 'audit') return { page: 'audit', ...(q.get('object') ? { object: q.get('object')! } : {}), ...(q.get('from') ? { from: q.get('from')! } : {}) };
  if (parts[0] === 'rbac') return { page: 'rbac' };
  if (parts[0] === 'vaults' && parts[1]) {
    if ((parts[2] === 'secrets' || parts[2] === 'keys') && parts[3]) return { page: parts[2] === 'secrets' ? 'secret' : 'key', vault: parts[1], name: parts[3] };
    return { page: 'vault', vault: parts[1] };
  }
  return { page: 'vaults' };
}

const go = (hash: string): void => {
  location.hash = hash;
};
const nameOf = (id: string): string => decodeURIComponent(id.split('/')[4] ?? id);
const when = (s: number | undefined): string => (s ? new Date(s * 1000).toISOString().replace('T', ' ').slice(0, 19) : '—');

/** Shows an API failure as the API said it: status, code, message (a 403 stays a 403). */
function Failure({ error }: { error: unknown }) {
  if (error instanceof ApiError) {
    return (
      <Alert color={error.status === 403 ? 'orange' : 'red'} title={error.status === 403 ? `403 Forbidden — your roles do not allow this` : `${error.status} ${error.code}`} data-testid="api-error">
        {error.code}: {error.message}
      </Alert>
    );
  }
  return <Alert color="red">{error instanceof Error ? error.message : String(error)}</Alert>;
}

function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data?: T; error?: unknown; loading: boolean; reload: () => void } {
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

function Loading({ state, children }: { state: { error?: unknown; loading: boolean }; children: () => ReactNode }) {
  if (state.loading) return <Loader size="sm" />;
  if (state.error) return <Failure error={state.error} />;
  return <>{children()}</>;
}

function VaultsPage({ api }: { api: Api }) {
  const vaults = useLoad(() => api.vault<{ value: { name: string; created?: string }[] }>('_', '/admin/vaults'), []);
  const [name, setName] = useState('');
  return (
    <Stack>
      <Title order={2}>Vaults</Title>
      <Group>
        <TextInput placeholder="vault name" value={name} onChange={(e) => setName(e.currentTarget.value)} data-testid="open-vault-name" />
        <Button onClick={() => name && go(`#/vaults/${encodeURIComponent(name)}`)} data-testid="open-vault">
          Open vault
        </Button>
      </Group>
      {vaults.error instanceof ApiError && vaults.error.status === 403 ? (
        <Text c="dimmed" size="sm">
          Listing every vault needs Key Vault Administrator; open a vault you have a role on by its name.
        </Text>
      ) : (
        <Loading state={vaults}>
          {() => (
            <Table striped highlightOnHover>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {(vaults.data?.value ?? []).map((v) => (
                  <Table.Tr key={v.name} onClick={() => go(`#/vaults/${encodeURIComponent(v.name)}`)} style={{ cursor: 'pointer' }}>
                    <Table.Td>{v.name}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Loading>
      )}
    </Stack>
  );
}

type Attributes = { enabled?: boolean; created?: number; updated?: number; exp?: number; nbf?: number; recoveryLevel?: string };

function VaultPage({ api, vault }: { api: Api; vault: string }) {
  const secrets = useLoad(() => api.vault<{ value: { id: string; attributes: Attributes; contentType?: string; tags?: Record<string, string> }[] }>(vault, '/secrets'), [vault]);
  const keys = useLoad(() => api.vault<{ value: { kid: string; attributes: Attributes; tags?: Record<string, string> }[] }>(vault, '/keys'), [vault]);
  const tags = (t?: Record<string, string>) => Object.entries(t ?? {}).map(([k, v]) => <Badge key={k} variant="light" mr={4}>{`${k}=${v}`}</Badge>);
  return (
    <Stack>
      <Title order={2}>Vault {vault}</Title>
      <Tabs defaultValue="secrets">
        <Tabs.List>
          <Tabs.Tab value="secrets">Secrets</Tabs.Tab>
          <Tabs.Tab value="keys">Keys</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="secrets" pt="md">
          <Loading state={secrets}>
            {() => (
              <Table striped highlightOnHover data-testid="secrets-table">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Name</Table.Th>
                    <Table.Th>Enabled</Table.Th>
                    <Table.Th>Updated</Table.Th>
                    <Table.Th>Expires</Table.Th>
                    <Table.Th>Content type</Table.Th>
                    <Table.Th>Tags</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {(secrets.data?.value ?? []).map((s) => (
                    <Table.Tr key={s.id} onClick={() => go(`#/vaults/${encodeURIComponent(vault)}/secrets/${encodeURIComponent(nameOf(s.id))}`)} style={{ cursor: 'pointer' }}>
                      <Table.Td>{nameOf(s.id)}</Table.Td>
                      <Table.Td>{s.attributes.enabled ? 'yes' : 'no'}</Table.Td>
                      <Table.Td>{when(s.attributes.updated)}</Table.Td>
                      <Table.Td>{when(s.attributes.exp)}</Table.Td>
                      <Table.Td>{s.contentType ?? ''}</Table.Td>
                      <Table.Td>{tags(s.tags)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
          </Loading>
        </Tabs.Panel>
        <Tabs.Panel value="keys" pt="md">
          <Loading state={keys}>
            {() => (
              <Table striped highlightOnHover>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Name</Table.Th>
                    <Table.Th>Enabled</Table.Th>
                    <Table.Th>Updated</Table.Th>
                    <Table.Th>Expires</Table.Th>
                    <Table.Th>Tags</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {(keys.data?.value ?? []).map((k) => (
                    <Table.Tr key={k.kid} onClick={() => go(`#/vaults/${encodeURIComponent(vault)}/keys/${encodeURIComponent(nameOf(k.kid))}`)} style={{ cursor: 'pointer' }}>
                      <Table.Td>{nameOf(k.kid)}</Table.Td>
                      <Table.Td>{k.attributes.enabled ? 'yes' : 'no'}</Table.Td>
                      <Table.Td>{when(k.attributes.updated)}</Table.Td>
                      <Table.Td>{when(k.attributes.exp)}</Table.Td>
                      <Table.Td>{tags(k.tags)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
          </Loading>
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

function SecretPage({ api, vault, name }: { api: Api; vault: string; name: string }) {
  const versions = useLoad(() => api.vault<{ value: { id: string; attributes: Attributes; contentType?: string }[] }>(vault, `/secrets/${encodeURIComponent(name)}/versions`), [vault, name]);
  const [revealed, setRevealed] = useState<{ value?: string; error?: unknown }>();
  const reveal = () => {
    api.vault<{ value: string }>(vault, `/secrets/${encodeURIComponent(name)}/`).then(
      (s) => setRevealed({ value: s.value }),
      (error: unknown) => setRevealed({ error }),
    );
  };
  return (
    <Stack>
      <Title order={2}>
        Secret {name} <Text span c="dimmed">in {vault}</Text>
      </Title>
      <Loading state={versions}>
        {() => (
          <Table striped data-testid="versions-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Version</Table.Th>
                <Table.Th>Enabled</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Not before</Table.Th>
                <Table.Th>Expires</Table.Th>
                <Table.Th>Recovery level</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {(versions.data?.value ?? []).map((v) => (
                <Table.Tr key={v.id}>
                  <Table.Td>
                    <Code>{v.id.split('/')[5]}</Code>
                  </Table.Td>
                  <Table.Td>{v.attributes.enabled ? 'yes' : 'no'}</Table.Td>
                  <Table.Td>{when(v.attributes.created)}</Table.Td>
                  <Table.Td>{when(v.attributes.nbf)}</Table.Td>
                  <Table.Td>{when(v.attributes.exp)}</Table.Td>
                  <Table.Td>{v.attributes.recoveryLevel ?? ''}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Loading>
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

type Usage = { total: number; byOperation?: Bucket[]; byPrincipal?: Bucket[]; byAlgorithm?: Bucket[] };
type Bucket = { key: string; count: number; success: number; failure: number; lastAt: string | null };

function KeyPage({ api, vault, name }: { api: Api; vault: string; name: string }) {
  const [window, setWindow] = useState('1h');
  const from = useMemo(() => new Date(Date.now() - { '1h': 3_600_000, '24h': 86_400_000, '7d': 604_800_000 }[window]!).toISOString(), [window]);
  const key = useLoad(() => api.vault<{ key: { kid: string; kty: string; key_ops?: string[]; crv?: string }; attributes: Attributes }>(vault, `/keys/${encodeURIComponent(name)}/`), [vault, name]);
  const usage = useLoad(() => api.audit<Usage>(`/audit/usage?${new URLSearchParams({ vault, object: `${vault}/keys/${name}`, by: 'operation,principal,algorithm', from })}`), [vault, name, from]);
  const rows = (b?: Bucket[]) =>
    (b ?? []).map((x) => (
      <Table.Tr key={x.key}>
        <Table.Td>{x.key}</Table.Td>
        <Table.Td>{x.count}</Table.Td>
        <Table.Td c={x.failure > 0 ? 'red' : undefined}>{x.failure}</Table.Td>
        <Table.Td>{x.lastAt ?? ''}</Table.Td>
      </Table.Tr>
    ));
  return (
    <Stack>
      <Title order={2}>
        Key {name} <Text span c="dimmed">in {vault}</Text>
      </Title>
      <Loading state={key}>
        {() => (
          <Group>
            <Badge>{key.data?.key.kty}</Badge>
            {key.data?.key.crv && <Badge variant="light">{key.data.key.crv}</Badge>}
            {(key.data?.key.key_ops ?? []).map((o) => (
              <Badge key={o} variant="outline">
                {o}
              </Badge>
            ))}
            <Text size="sm">expires {when(key.data?.attributes.exp)}</Text>
          </Group>
        )}
      </Loading>
      <Group justify="space-between">
        <Title order={3}>Usage</Title>
        <Group>
          <SegmentedControl value={window} onChange={setWindow} data={['1h', '24h', '7d']} />
          <Button variant="subtle" onClick={() => go(`#/audit?${new URLSearchParams({ object: `${vault}/keys/${name}`, from: new Date(Date.now() - 3_600_000).toISOString() })}`)}>
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
              <Button size="xs" variant="subtle" onClick={usage.reload} data-testid="usage-reload">
                Refresh
              </Button>
            </Group>
            <BarChart
              h={260}
              data={(usage.data?.byOperation ?? []).map((b) => ({ operation: b.key, success: b.success, failure: b.failure }))}
              dataKey="operation"
              type="stacked"
              series={[
                { name: 'success', color: 'teal.6' },
                { name: 'failure', color: 'red.6' },
              ]}
            />
            <Group grow align="flex-start">
              {(['byPrincipal', 'byAlgorithm'] as const).map((dim) => (
                <Table key={dim}>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>{dim === 'byPrincipal' ? 'Principal' : 'Algorithm'}</Table.Th>
                      <Table.Th>Calls</Table.Th>
                      <Table.Th>Failures</Table.Th>
                      <Table.Th>Last</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>{rows(usage.data?.[dim])}</Table.Tbody>
                </Table>
              ))}
            </Group>
          </Stack>
        )}
      </Loading>
    </Stack>
  );
}

function AuditRows({ docs, onOpen, testId = 'audit-table' }: { docs: AuditDoc[]; onOpen: (id: string) => void; testId?: string }) {
  return (
    <Table striped highlightOnHover data-testid={testId}>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Time</Table.Th>
          <Table.Th>Operation</Table.Th>
          <Table.Th>Principal</Table.Th>
          <Table.Th>Object</Table.Th>
          <Table.Th>Result</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {docs.map((d) => (
          <Table.Tr key={`${d.keyledger.chain}-${d.keyledger.seq}-${d.event.id}`} onClick={() => onOpen(d.event.id)} style={{ cursor: 'pointer' }}>
            <Table.Td>{d['@timestamp'].replace('T', ' ').slice(0, 19)}</Table.Td>
            <Table.Td>{d.event.action}</Table.Td>
            <Table.Td>{d.user?.name ?? d.user?.id ?? ''}</Table.Td>
            <Table.Td>{d.keyledger.object?.ref ?? d.keyledger.vault ?? ''}</Table.Td>
            <Table.Td>
              <Badge color={d.event.outcome === 'success' ? 'teal' : 'red'} variant="light">
                {d.http?.response?.status_code ?? d.event.outcome}
              </Badge>
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

function AuditPage({ api, object, from }: { api: Api; object?: string; from?: string }) {
  const [filters, setFilters] = useState({ object: object ?? '', principal: '', operation: '', vault: '', outcome: '' });
  const [query, setQuery] = useState(filters);
  const search = useLoad(() => {
    const q = new URLSearchParams({ pageSize: '50' });
    for (const [k, v] of Object.entries(query)) if (v) q.set(k, v);
    if (from) q.set('from', from);
    return api.audit<{ value: AuditDoc[]; total: number }>(`/audit/records?${q}`);
  }, [JSON.stringify(query), from]);
  const [live, setLive] = useState(false);
  const [tail, setTail] = useState<AuditDoc[]>([]);
  const [tailError, setTailError] = useState<unknown>();
  const [open, setOpen] = useState<string>();
  const detail = useLoad(() => (open ? api.audit<Record<string, unknown>>(`/audit/records/${encodeURIComponent(open)}`) : Promise.resolve(undefined)), [open]);
  useEffect(() => {
    if (!live) return;
    const abort = new AbortController();
    api.auditStream((doc) => setTail((t) => [doc, ...t].slice(0, 200)), abort.signal).catch((e: unknown) => !abort.signal.aborted && setTailError(e));
    return () => abort.abort();
  }, [live, api]);
  const field = (k: keyof typeof filters, label: string) => <TextInput label={label} value={filters[k]} onChange={(e) => setFilters({ ...filters, [k]: e.currentTarget.value })} data-testid={`filter-${k}`} />;
  const proof = (detail.data as { proof?: { verified?: boolean; note?: string; checkpoint?: { seq?: number; signedAt?: string } | null } } | undefined)?.proof;
  return (
    <Stack>
      <Title order={2}>Audit</Title>
      <Group align="flex-end">
        {field('object', 'Object (vault/secrets/name)')}
        {field('principal', 'Principal')}
        {field('operation', 'Operation')}
        {field('vault', 'Vault')}
        <Select label="Outcome" data={['', 'success', 'failure']} value={filters.outcome} onChange={(v) => setFilters({ ...filters, outcome: v ?? '' })} w={120} />
        <Button onClick={() => setQuery(filters)} data-testid="audit-search">
          Search
        </Button>
        <Switch label="Live tail" checked={live} onChange={(e) => setLive(e.currentTarget.checked)} data-testid="live-tail" />
      </Group>
      {live && (
        <Stack gap={4}>
          <Title order={4}>Live ({tail.length})</Title>
          {tailError !== undefined && <Failure error={tailError} />}
          <AuditRows docs={tail} onOpen={setOpen} testId="live-table" />
        </Stack>
      )}
      <Loading state={search}>
        {() => (
          <Stack gap={4}>
            <Text size="sm">{search.data?.total ?? 0} records</Text>
            <AuditRows docs={search.data?.value ?? []} onOpen={setOpen} />
          </Stack>
        )}
      </Loading>
      <Drawer opened={open !== undefined} onClose={() => setOpen(undefined)} position="right" size="xl" title="Audit record">
        <Loading state={detail}>
          {() => (
            <Stack>
              <Group>
                <Badge color={proof?.verified ? 'teal' : 'red'} data-testid="proof-status">
                  {proof?.verified ? 'chain proof verified' : 'chain proof not verified'}
                </Badge>
                {proof?.note && <Text size="sm">{proof.note}</Text>}
              </Group>
              <Code block data-testid="record-detail">
                {JSON.stringify(detail.data, null, 2)}
              </Code>
            </Stack>
          )}
        </Loading>
      </Drawer>
    </Stack>
  );
}

function RbacPage({ api }: { api: Api }) {
  const assignments = useLoad(() => api.identity<{ value: { id: string; principalId: string; roleName: string; scope: string }[] }>('/admin/roleAssignments'), []);
  return (
    <Stack>
      <Title order={2}>Role assignments</Title>
      <Loading state={assignments}>
        {() => (
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Scope</Table.Th>
                <Table.Th>Role</Table.Th>
                <Table.Th>Principal</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {[...(assignments.data?.value ?? [])]
                .sort((a, b) => a.scope.localeCompare(b.scope))
                .map((a) => (
                  <Table.Tr key={a.id}>
                    <Table.Td>{a.scope}</Table.Td>
                    <Table.Td>{a.roleName}</Table.Td>
                    <Table.Td>
                      <Code>{a.principalId}</Code>
                    </Table.Td>
                  </Table.Tr>
                ))}
            </Table.Tbody>
          </Table>
        )}
      </Loading>
    </Stack>
  );
}

export function App() {
  const [cfg, setCfg] = useState<ConsoleConfig>();
  const [session, setSession] = useState<Session | null>();
  const [error, setError] = useState<unknown>();
  const [route, setRoute] = useState<Route>(parseRoute(location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onHash);
    loadConfig()
      .then(async (c) => {
        setCfg(c);
        setSession((await Session.restore(c)) ?? null);
        setRoute(parseRoute(location.hash));
      })
      .catch((e: unknown) => {
        setError(e);
        setSession(null);
      });
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const api = useMemo(() => (cfg && session ? makeApi(cfg, session) : undefined), [cfg, session]);

  if (session === undefined) return <Center h="100vh"><Loader /></Center>;
  if (!session || !api || !cfg) {
    return (
      <Center h="100vh">
        <Stack align="center">
          <Title>Keyledger console</Title>
          {error !== undefined && <Failure error={error} />}
          <Button size="md" onClick={() => cfg && void signIn(cfg)} data-testid="sign-in">
            Sign in
          </Button>
        </Stack>
      </Center>
    );
  }
  const nav = (label: string, hash: string, active: boolean) => <NavLink label={label} active={active} onClick={() => go(hash)} data-testid={`nav-${hash.slice(2)}`} />;
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm' }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Title order={3}>Keyledger</Title>
          <Group>
            <Text size="sm" data-testid="signed-in-user">
              {session.username}
            </Text>
            <Button variant="subtle" size="xs" onClick={() => session.signOut()}>
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs">
        {nav('Vaults', '#/vaults', route.page === 'vaults' || route.page === 'vault' || route.page === 'secret' || route.page === 'key')}
        {nav('Audit', '#/audit', route.page === 'audit')}
        {nav('Role assignments', '#/rbac', route.page === 'rbac')}
      </AppShell.Navbar>
      <AppShell.Main>
        {route.page === 'vaults' && <VaultsPage api={api} />}
        {route.page === 'vault' && <VaultPage api={api} vault={route.vault} />}
        {route.page === 'secret' && <SecretPage api={api} vault={route.vault} name={route.name} />}
        {route.page === 'key' && <KeyPage api={api} vault={route.vault} name={route.name} />}
        {route.page === 'audit' && <AuditPage key={`${route.object ?? ''}${route.from ?? ''}`} api={api} {...(route.object ? { object: route.object } : {})} {...(route.from ? { from: route.from } : {})} />}
        {route.page === 'rbac' && <RbacPage api={api} />}
      </AppShell.Main>
    </AppShell>
  );
}
