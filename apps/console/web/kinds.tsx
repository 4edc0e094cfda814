// Object kinds, described once: a vault's tabs, its list columns and an object's detail page are
// built from this table, so a new kind is one more entry here, not a new page. Everything shown
// is metadata: a secret's value only on Reveal (an audited SecretGet), never a private key and
// never a certificate's managed secret.
import { type ReactNode } from 'react';
import { Badge, Button, Code, Group, Stack, Table, Tabs, Text, Title } from '@mantine/core';
import { ApiError, type Api } from './api.tsx';
import { Fields, Loading, Tags, go, nameOf, useLoad, versionOf, when, type Field } from './ui.tsx';
import { parseCertificate, thumbprintHex } from './x509.tsx';
import { KeyUsage, SecretReveal } from './object-extensions.tsx';

export type Attributes = { enabled?: boolean; created?: number; updated?: number; exp?: number; nbf?: number; recoveryLevel?: string; recoverableDays?: number; exportable?: boolean };
/** What every kind's list items and versions have in common (Azure's *Item shapes). */
export type Item = { id?: string; kid?: string; attributes?: Attributes; tags?: Record<string, string> | null; contentType?: string; managed?: boolean; x5t?: string };
type Json = Record<string, unknown>;

/** A part of the detail page loaded on its own (policy, pending operation…); a 404 means "none". */
type Part = { readonly title: string; readonly path: (name: string) => string; readonly fields: (data: Json) => readonly Field[]; readonly testId: string };

export type Kind = {
  /** The URL segment of the collection: /secrets, /keys, /certificates. */
  readonly collection: string;
  readonly label: string;
  readonly singular: string;
  /** A list column beyond name, enabled, updated, expires and tags. */
  readonly columns?: readonly { readonly title: string; readonly cell: (item: Item) => ReactNode }[];
  /** The object itself (its current version) when reading it returns metadata only; secrets have none (it returns the value). */
  readonly current?: { readonly title: string; readonly fields: (o: Json) => readonly Field[]; readonly testId: string };
  readonly parts?: readonly Part[];
  /** A kind-specific tool under the detail (a secret's reveal, a key's usage). */
  readonly extension?: (p: { api: Api; vault: string; name: string }) => ReactNode;
};

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null ? (v as Json) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const badges = (xs: unknown[]) => xs.map((x) => <Badge key={String(x)} variant="outline" tt="none" mr={4}>{String(x)}</Badge>);

function certificateFields(o: Json): Field[] {
  const policy = obj(o['policy']);
  const x509 = obj(policy['x509_props']);
  const cer = str(o['cer']);
  let facts: ReturnType<typeof parseCertificate> | undefined;
  let parseError: string | undefined;
  try {
    facts = cer ? parseCertificate(cer) : undefined;
  } catch (e) {
    parseError = e instanceof Error ? e.message : String(e);
  }
  const attrs = obj(o['attributes']) as Attributes;
  const requestedSans = obj(x509['sans']);
  const sans = facts?.sans.length ? facts.sans : [...list(requestedSans['dns_names']).map((d) => `DNS:${String(d)}`), ...list(requestedSans['emails']).map((e) => `email:${String(e)}`), ...list(requestedSans['upns']).map((u) => `UPN:${String(u)}`)];
  return [
    ['Subject', facts?.subject ?? str(x509['subject']) ?? (parseError ? `(unreadable: ${parseError})` : 'not issued yet')],
    ['Subject alternative names', sans.length ? badges(sans) : '—'],
    ['Issuer', facts ? `${facts.issuer}${facts.selfIssued ? ' (self-signed)' : ''}` : '—'],
    ['Thumbprint (SHA-1)', str(o['x5t']) ? <Code>{thumbprintHex(str(o['x5t'])!)}</Code> : '—'],
    ['Serial number', facts ? <Code>{facts.serial}</Code> : '—'],
    ['Not before', when(facts?.notBefore ?? attrs.nbf)],
    ['Expires', when(facts?.notAfter ?? attrs.exp)],
    ['Version', <Code key="v">{versionOf(str(o['id']) ?? '')}</Code>],
    ['Key (id)', str(o['kid']) ? <Code>{str(o['kid'])}</Code> : '—'],
    ['Managed secret (id only)', str(o['sid']) ? <Code>{str(o['sid'])}</Code> : '—'],
  ];
}

function policyFields(p: Json): Field[] {
  const key = obj(p['key_props']);
  const x509 = obj(p['x509_props']);
  const issuer = obj(p['issuer']);
  const lifetime = list(p['lifetime_actions']).map((a) => {
    const t = obj(obj(a)['trigger']);
    const act = str(obj(obj(obj(a)['action']))['action_type']) ?? '?';
    return t['days_before_expiry'] !== undefined ? `${act} ${String(t['days_before_expiry'])} days before expiry` : `${act} at ${String(t['lifetime_percentage'])}% of lifetime`;
  });
  return [
    ['Issuer', `${str(issuer['name']) ?? '—'}${str(issuer['cty']) ? ` (${str(issuer['cty'])})` : ''}`],
    ['Requested subject', str(x509['subject']) ?? '—'],
    ['Validity', x509['validity_months'] !== undefined ? `${String(x509['validity_months'])} months` : '—'],
    ['Key', [str(key['kty']), str(key['key_size']), str(key['crv']), key['reuse_key'] ? 'reused on renewal' : 'new on renewal', key['exportable'] ? 'exportable' : 'not exportable'].filter(Boolean).join(' · ')],
    ['Key usage', badges([...list(x509['key_usage']), ...list(x509['ekus'])])],
    ['Content type', str(obj(p['secret_props'])['contentType']) ?? '—'],
    ['Lifetime actions', lifetime.length ? lifetime.join('; ') : '—'],
  ];
}

export const KINDS: readonly Kind[] = [
  {
    collection: 'secrets',
    label: 'Secrets',
    singular: 'Secret',
    columns: [{ title: 'Content type', cell: (s) => s.contentType ?? '' }, { title: 'Managed', cell: (s) => (s.managed ? 'by a certificate' : '') }],
    extension: (p) => <SecretReveal {...p} />,
  },
  {
    collection: 'keys',
    label: 'Keys',
    singular: 'Key',
    columns: [{ title: 'Managed', cell: (k) => (k.managed ? 'by a certificate' : '') }],
    current: {
      title: 'Key',
      testId: 'key-detail',
      fields: (o) => {
        const k = obj(o['key']);
        return [
          ['Type', <Badge key="t">{str(k['kty'])}</Badge>],
          ['Curve / size', str(k['crv']) ?? (str(k['n']) ? `${Math.round((str(k['n'])!.length * 6) / 1024) * 1024} bits` : '—')],
          ['Operations', badges(list(k['key_ops']))],
          ['Version', <Code key="v">{versionOf(str(k['kid']) ?? '')}</Code>],
          ['Release policy', o['release_policy'] ? 'yes' : '—'],
        ];
      },
    },
    parts: [
      {
        title: 'Rotation policy',
        testId: 'rotation-policy',
        path: (n) => `/keys/${encodeURIComponent(n)}/rotationpolicy`,
        fields: (p) => {
          const actions = list(p['lifetimeActions']).map((a) => `${str(obj(obj(a)['action'])['type']) ?? '?'} ${str(obj(obj(a)['trigger'])['timeBeforeExpiry']) ?? str(obj(obj(a)['trigger'])['timeAfterCreate']) ?? ''}`);
          return [
            ['Lifetime actions', actions.length ? actions.join('; ') : '—'],
            ['Expiry time', str(obj(p['attributes'])['expiryTime']) ?? '—'],
          ];
        },
      },
    ],
    extension: (p) => <KeyUsage {...p} />,
  },
  {
    collection: 'certificates',
    label: 'Certificates',
    singular: 'Certificate',
    columns: [{ title: 'Thumbprint', cell: (c) => (c.x5t ? <Code>{thumbprintHex(c.x5t).slice(0, 16)}…</Code> : '') }],
    current: { title: 'Certificate', testId: 'certificate-detail', fields: certificateFields },
    parts: [
      { title: 'Policy', testId: 'certificate-policy', path: (n) => `/certificates/${encodeURIComponent(n)}/policy`, fields: policyFields },
      {
        title: 'Pending operation',
        testId: 'certificate-pending',
        path: (n) => `/certificates/${encodeURIComponent(n)}/pending`,
        fields: (op) => [
          ['Status', <Badge key="s" color={op['status'] === 'completed' ? 'teal' : op['error'] ? 'red' : 'yellow'}>{str(op['status']) ?? '—'}</Badge>],
          ['Details', str(op['status_details']) ?? '—'],
          ['Issuer', str(obj(op['issuer'])['name']) ?? '—'],
          ['Cancellation requested', op['cancellation_requested'] ? 'yes' : 'no'],
          ['Error', op['error'] ? `${str(obj(op['error'])['code']) ?? ''}: ${str(obj(op['error'])['message']) ?? ''}` : '—'],
          ['Request id', str(op['request_id']) ?? '—'],
        ],
      },
    ],
  },
];

export const kindOf = (collection: string): Kind | undefined => KINDS.find((k) => k.collection === collection);
const idOf = (i: Item): string => i.id ?? i.kid ?? '';

/** A vault's objects of one kind. */
export function ObjectList({ api, vault, kind }: { api: Api; vault: string; kind: Kind }) {
  const items = useLoad(() => api.vault<{ value: Item[] }>(vault, `/${kind.collection}`), [vault, kind.collection]);
  return (
    <Loading state={items}>
      {() => (
        <Table striped highlightOnHover data-testid={`${kind.collection}-table`}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Enabled</Table.Th>
              <Table.Th>Updated</Table.Th>
              <Table.Th>Expires</Table.Th>
              {(kind.columns ?? []).map((c) => (
                <Table.Th key={c.title}>{c.title}</Table.Th>
              ))}
              <Table.Th>Tags</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(items.data?.value ?? []).map((i) => (
              <Table.Tr key={idOf(i)} onClick={() => go(`#/vaults/${encodeURIComponent(vault)}/${kind.collection}/${encodeURIComponent(nameOf(idOf(i)))}`)} style={{ cursor: 'pointer' }}>
                <Table.Td>{nameOf(idOf(i))}</Table.Td>
                <Table.Td>{i.attributes?.enabled ? 'yes' : 'no'}</Table.Td>
                <Table.Td>{when(i.attributes?.updated)}</Table.Td>
                <Table.Td>{when(i.attributes?.exp)}</Table.Td>
                {(kind.columns ?? []).map((c) => (
                  <Table.Td key={c.title}>{c.cell(i)}</Table.Td>
                ))}
                <Table.Td>
                  <Tags tags={i.tags} />
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Loading>
  );
}

/** A vault: one tab per kind. */
export function VaultPage({ api, vault }: { api: Api; vault: string }) {
  return (
    <Stack>
      <Title order={2}>Vault {vault}</Title>
      <Tabs defaultValue={KINDS[0]!.collection} keepMounted={false}>
        <Tabs.List>
          {KINDS.map((k) => (
            <Tabs.Tab key={k.collection} value={k.collection} data-testid={`tab-${k.collection}`}>
              {k.label}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        {KINDS.map((k) => (
          <Tabs.Panel key={k.collection} value={k.collection} pt="md">
            <ObjectList api={api} vault={vault} kind={k} />
          </Tabs.Panel>
        ))}
      </Tabs>
    </Stack>
  );
}

function PartView({ api, vault, name, part }: { api: Api; vault: string; name: string; part: Part }) {
  // A 404 is "there is none" (no pending operation, no rotation policy): not an error.
  const data = useLoad(
    () =>
      api.vault<Json>(vault, part.path(name)).catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 404) return undefined;
        throw e;
      }),
    [vault, name, part.title],
  );
  return (
    <Stack gap={4}>
      <Title order={4}>{part.title}</Title>
      <Loading state={data}>{() => (data.data ? <Fields fields={part.fields(data.data)} testId={part.testId} /> : <Text size="sm" c="dimmed" data-testid={part.testId}>none</Text>)}</Loading>
    </Stack>
  );
}

/** Any object's page: its current version's metadata, its parts, tags, versions and the kind's own tool. */
export function ObjectPage({ api, vault, kind, name }: { api: Api; vault: string; kind: Kind; name: string }) {
  const base = `/${kind.collection}/${encodeURIComponent(name)}`;
  const current = useLoad(() => (kind.current ? api.vault<Json>(vault, `${base}/`) : Promise.resolve(undefined)), [vault, name, kind.collection]);
  const versions = useLoad(() => api.vault<{ value: Item[] }>(vault, `${base}/versions`), [vault, name, kind.collection]);
  const attrs = obj(current.data?.['attributes']) as Attributes;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>
          {kind.singular} {name} <Text span c="dimmed">in {vault}</Text>
        </Title>
        <Button variant="subtle" onClick={() => go(`#/audit?${new URLSearchParams({ object: `${vault}/${kind.collection}/${name}` })}`)} data-testid="object-audit">
          Audit records of this {kind.singular.toLowerCase()}
        </Button>
      </Group>
      {kind.current && (
        <Stack gap={4}>
          <Title order={4}>{kind.current.title}</Title>
          <Loading state={current}>
            {() => (
              <Fields
                testId={kind.current!.testId}
                fields={[
                  ...kind.current!.fields(current.data ?? {}),
                  ['Enabled', attrs.enabled ? 'yes' : 'no'],
                  ['Created', when(attrs.created)],
                  ['Updated', when(attrs.updated)],
                  ['Recovery level', attrs.recoveryLevel ?? '—'],
                  ['Tags', <Tags key="tags" tags={current.data?.['tags'] as Record<string, string> | undefined} />],
                ]}
              />
            )}
          </Loading>
        </Stack>
      )}
      {(kind.parts ?? []).map((p) => (
        <PartView key={p.title} api={api} vault={vault} name={name} part={p} />
      ))}
      <Stack gap={4}>
        <Title order={4}>Versions</Title>
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
                  <Table.Th>Tags</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {[...(versions.data?.value ?? [])]
                  .sort((a, b) => (b.attributes?.created ?? 0) - (a.attributes?.created ?? 0))
                  .map((v) => (
                    <Table.Tr key={idOf(v)}>
                      <Table.Td>
                        <Code>{versionOf(idOf(v))}</Code>
                      </Table.Td>
                      <Table.Td>{v.attributes?.enabled ? 'yes' : 'no'}</Table.Td>
                      <Table.Td>{when(v.attributes?.created)}</Table.Td>
                      <Table.Td>{when(v.attributes?.nbf)}</Table.Td>
                      <Table.Td>{when(v.attributes?.exp)}</Table.Td>
                      <Table.Td>{v.attributes?.recoveryLevel ?? ''}</Table.Td>
                      <Table.Td>
                        <Tags tags={v.tags} />
                      </Table.Td>
                    </Table.Tr>
                  ))}
              </Table.Tbody>
            </Table>
          )}
        </Loading>
      </Stack>
      {kind.extension?.({ api, vault, name })}
    </Stack>
  );
}
