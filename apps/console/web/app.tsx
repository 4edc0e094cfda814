import { useEffect, useMemo, useState } from 'react';
import { AppShell, Button, Center, Code, Group, Loader, NavLink, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { ApiError, makeApi, type Api } from './api.tsx';
import { Session, loadConfig, signIn, type ConsoleConfig } from './auth.tsx';
import { AuditPage } from './audit-page.tsx';
import { ObjectPage, VaultPage, kindOf } from './kinds.tsx';
import { Failure, Loading, go, useLoad } from './ui.tsx';

// Client-side routes in the hash: #/vaults, #/vaults/{v}, #/vaults/{v}/{collection}/{n} (any kind in kinds.tsx), #/audit, #/rbac.
type Route =
  | { page: 'vaults' }
  | { page: 'vault'; vault: string }
  | { page: 'object'; vault: string; collection: string; name: string }
  | { page: 'audit'; object?: string; from?: string; service?: string }
  | { page: 'rbac' };

function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const q = new URLSearchParams(query);
  if (parts[0] === 'audit') {
    const pick = (k: 'object' | 'from' | 'service') => (q.get(k) ? { [k]: q.get(k)! } : {});
    return { page: 'audit', ...pick('object'), ...pick('from'), ...pick('service') };
  }
  if (parts[0] === 'rbac') return { page: 'rbac' };
  if (parts[0] === 'vaults' && parts[1]) {
    if (parts[2] && kindOf(parts[2]) && parts[3]) return { page: 'object', vault: parts[1], collection: parts[2], name: parts[3] };
    return { page: 'vault', vault: parts[1] };
  }
  return { page: 'vaults' };
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
            <Button variant="subtle" size="xs" data-testid="sign-out" onClick={() => session.signOut()}>
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs">
        {nav('Vaults', '#/vaults', route.page === 'vaults' || route.page === 'vault' || route.page === 'object')}
        {nav('Audit', '#/audit', route.page === 'audit')}
        {nav('Role assignments', '#/rbac', route.page === 'rbac')}
      </AppShell.Navbar>
      <AppShell.Main>
        {route.page === 'vaults' && <VaultsPage api={api} />}
        {route.page === 'vault' && <VaultPage api={api} vault={route.vault} />}
        {route.page === 'object' && <ObjectPage key={`${route.vault}/${route.collection}/${route.name}`} api={api} vault={route.vault} kind={kindOf(route.collection)!} name={route.name} />}
        {route.page === 'audit' && <AuditPage key={`${route.object ?? ''}${route.from ?? ''}${route.service ?? ''}`} api={api} {...(route.object ? { object: route.object } : {})} {...(route.from ? { from: route.from } : {})} {...(route.service ? { service: route.service } : {})} />}
        {route.page === 'rbac' && <RbacPage api={api} />}
      </AppShell.Main>
    </AppShell>
  );
}
