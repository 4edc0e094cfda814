// The audit view: the chain's verification status with its last signed checkpoint, search with
// the CLI's filters, the live tail, and a record's detail with its chain proof.
import { useEffect, useState } from 'react';
import { Badge, Button, Card, Code, Drawer, Group, Select, Stack, Switch, Table, Text, TextInput, Title } from '@mantine/core';
import type { Api, AuditDoc } from './api.tsx';
import { Failure, Fields, Loading, useLoad, when } from './ui.tsx';

type Verification = { ok: boolean; fromSeq: number; toSeq: number; records: number; checkpoints: number; scope?: string; brokenLink?: { kind: string; seq: number; reason: string } };
type ChainStatus = {
  chain: string;
  head: { seq: number; hash: string } | null;
  lastCheckpoint: { number: number; headSeq: number; headHash: string; createdAt: string; keyId: string; algorithm: string; signature: string } | null;
  signer: string;
  unsealedRecords: number;
  verification: Verification;
};
type Proof = {
  verified?: boolean;
  note?: string;
  path?: { seq: number }[];
  checkpoint?: { number: number; headSeq: number; createdAt: string; keyId: string; headHash: string } | null;
};
type RecordDetail = { record: Record<string, unknown>; ledger: { chain: string; seq: number; appendedAt: string; entryDigest: string; prevHash: string; hash: string }; proof: Proof };

const short = (h: string | undefined): string => (h ? `${h.slice(0, 16)}…` : '—');

function VerdictBadge({ v, testId }: { v: Verification; testId: string }) {
  return (
    <Badge color={v.ok ? 'teal' : 'red'} size="lg" data-testid={testId}>
      {v.ok ? 'chain verified' : `chain broken at seq ${v.brokenLink?.seq ?? '?'}`}
    </Badge>
  );
}

/** The caller's chain: verified (the last checkpoint and every record since the one before), the last signed checkpoint, and a whole-chain check on demand. */
function ChainStatusCard({ api }: { api: Api }) {
  const status = useLoad(() => api.audit<ChainStatus>('/audit/chain-status'), []);
  const [full, setFull] = useState<{ running?: boolean; result?: Verification; error?: unknown }>();
  const verifyAll = () => {
    setFull({ running: true });
    api.auditPost<Verification>('/audit/verify', {}).then(
      (result) => setFull({ result }),
      (error: unknown) => setFull({ error }),
    );
  };
  return (
    <Card withBorder data-testid="chain-status">
      <Loading state={status}>
        {() => {
          const s = status.data!;
          const cp = s.lastCheckpoint;
          return (
            <Stack gap="xs">
              <Group justify="space-between">
                <Group>
                  <VerdictBadge v={s.verification} testId="chain-verdict" />
                  <Text size="sm" c="dimmed">
                    {s.verification.scope === 'whole-chain' ? 'whole chain' : `seq ${s.verification.fromSeq}–${s.verification.toSeq} (since the checkpoint before the last)`}, {s.verification.records} records, {s.verification.checkpoints} checkpoints checked
                  </Text>
                </Group>
                <Group>
                  <Button size="xs" variant="light" onClick={verifyAll} loading={full?.running === true} data-testid="verify-chain">
                    Verify the whole chain
                  </Button>
                  <Button size="xs" variant="subtle" onClick={status.reload}>
                    Refresh
                  </Button>
                </Group>
              </Group>
              {full?.result && (
                <Group>
                  <VerdictBadge v={full.result} testId="full-verdict" />
                  <Text size="sm">
                    whole chain: seq {full.result.fromSeq}–{full.result.toSeq}, {full.result.records} records, {full.result.checkpoints} checkpoints{full.result.brokenLink ? ` — ${full.result.brokenLink.reason}` : ''}
                  </Text>
                </Group>
              )}
              {full?.error !== undefined && <Failure error={full.error} />}
              {s.verification.brokenLink && <Text c="red">{s.verification.brokenLink.reason}</Text>}
              <Fields
                testId="last-checkpoint"
                fields={[
                  ['Chain', <Code key="c">{s.chain}</Code>],
                  ['Head', s.head ? `seq ${s.head.seq} · ${short(s.head.hash)}` : 'empty'],
                  ['Last signed checkpoint', cp ? `#${cp.number} at ${when(cp.createdAt)} UTC` : 'none yet'],
                  ['Sealed up to', cp ? `seq ${cp.headSeq} · ${short(cp.headHash)} (${s.unsealedRecords} records since)` : '—'],
                  [
                    'Signer',
                    cp ? (
                      <Group gap={6} key="s">
                        <Code>{cp.keyId}</Code>
                        <Text size="sm">
                          {cp.algorithm}, {s.signer} signer
                        </Text>
                        <Badge color={cp.signature === 'valid' ? 'teal' : 'red'} variant="light" data-testid="checkpoint-signature">
                          signature {cp.signature}
                        </Badge>
                      </Group>
                    ) : (
                      '—'
                    ),
                  ],
                ]}
              />
            </Stack>
          );
        }}
      </Loading>
    </Card>
  );
}

function AuditRows({ docs, onOpen, testId = 'audit-table' }: { docs: AuditDoc[]; onOpen: (id: string) => void; testId?: string }) {
  return (
    <Table striped highlightOnHover data-testid={testId}>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Time</Table.Th>
          <Table.Th>Operation</Table.Th>
          <Table.Th>Service</Table.Th>
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
            <Table.Td>{d.service?.name ?? ''}</Table.Td>
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

/** A record's place in the chain and its proof up to the signed checkpoint that seals it. */
function RecordProof({ detail }: { detail: RecordDetail }) {
  const { ledger, proof } = detail;
  const cp = proof.checkpoint;
  return (
    <Stack gap="xs">
      <Group>
        <Badge color={proof.verified ? 'teal' : cp ? 'red' : 'yellow'} size="lg" data-testid="proof-status">
          {proof.verified ? 'chain proof verified' : cp ? 'chain proof NOT verified' : 'chain proof awaiting a signed checkpoint'}
        </Badge>
        {proof.note && <Text size="sm">{proof.note}</Text>}
      </Group>
      <Fields
        testId="record-proof"
        fields={[
          ['Chain · seq', `${ledger.chain} · ${ledger.seq}`],
          ['Appended', `${when(ledger.appendedAt)} UTC`],
          ['Entry digest', <Code key="d">{ledger.entryDigest}</Code>],
          ['Previous hash', <Code key="p">{ledger.prevHash}</Code>],
          ['Hash', <Code key="h">{ledger.hash}</Code>],
          ['Proof path', `${proof.path?.length ?? 0} digests (seq ${ledger.seq + 1}–${cp?.headSeq ?? '…'})`],
          ['Sealed by checkpoint', cp ? `#${cp.number} (head seq ${cp.headSeq}) at ${when(cp.createdAt)} UTC, key ${cp.keyId}` : 'not yet sealed'],
        ]}
      />
    </Stack>
  );
}

export function AuditPage({ api, object, from, service }: { api: Api; object?: string; from?: string; service?: string }) {
  const [filters, setFilters] = useState({ object: object ?? '', principal: '', operation: '', vault: '', outcome: '', service: service ?? '' });
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
  const detail = useLoad(() => (open ? api.audit<RecordDetail>(`/audit/records/${encodeURIComponent(open)}`) : Promise.resolve(undefined)), [open]);
  useEffect(() => {
    if (!live) return;
    const abort = new AbortController();
    api.auditStream((doc) => setTail((t) => [doc, ...t].slice(0, 200)), abort.signal).catch((e: unknown) => !abort.signal.aborted && setTailError(e));
    return () => abort.abort();
  }, [live, api]);
  const field = (k: keyof typeof filters, label: string) => <TextInput label={label} value={filters[k]} onChange={(e) => setFilters({ ...filters, [k]: e.currentTarget.value })} data-testid={`filter-${k}`} />;
  return (
    <Stack>
      <Title order={2}>Audit</Title>
      <ChainStatusCard api={api} />
      <Group align="flex-end">
        {field('object', 'Object (vault/secrets/name)')}
        {field('principal', 'Principal')}
        {field('operation', 'Operation')}
        {field('vault', 'Vault')}
        <Select label="Service" data={['', 'vault', 'crypto', 'identity', 'audit']} value={filters.service} onChange={(v) => setFilters({ ...filters, service: v ?? '' })} w={110} />
        <Select label="Outcome" data={['', 'success', 'failure']} value={filters.outcome} onChange={(v) => setFilters({ ...filters, outcome: v ?? '' })} w={110} />
        <Button
          onClick={() => {
            // Same filters again: search again (the index follows the ledger within seconds).
            setQuery(filters);
            search.reload();
          }}
          data-testid="audit-search"
        >
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
          {() =>
            detail.data ? (
              <Stack>
                <RecordProof detail={detail.data} />
                <Title order={5}>Record</Title>
                <Code block data-testid="record-detail">
                  {JSON.stringify(detail.data.record, null, 2)}
                </Code>
              </Stack>
            ) : null
          }
        </Loading>
      </Drawer>
    </Stack>
  );
}
