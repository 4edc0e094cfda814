import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { REPO_ROOT } from '#libs/platform';
import { waitFor } from '#libs/testing';
import { assignRole, createServicePrincipal, createVault, credential, dropVault, installLocalhostDns, raw, secretClient, suffix, vaultUrl, type ServicePrincipal } from '../vault/vault-e2e.support.js';
import { audit, AUDIT_RESOURCE, bootstrap, search, searchUntil, type Doc } from './audit-e2e.support.js';

jest.setTimeout(180_000);

const cli = (args: readonly string[]): Promise<{ stdout: string; stderr: string }> => promisify(execFile)(process.execPath, [join(REPO_ROOT, 'bin', 'keyledger.mjs'), ...args], { env: process.env, maxBuffer: 32 * 1024 * 1024 });
const status = (d: Doc): number | undefined => d.http?.response?.status_code;

describe('audit API: token requests are audited and searchable', () => {
  let sp: ServicePrincipal;

  beforeAll(async () => {
    sp = await createServicePrincipal(`e2e-audit-caller-${suffix()}`);
  });

  it('returns a principal\'s successful and refused token requests with their operation, outcome and caller ids', async () => {
    const token = (secret: string) =>
      raw(`${bootstrap.authorityHost}/${sp.tenantId}/oauth2/v2.0/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: sp.appId, client_secret: secret, scope: `${AUDIT_RESOURCE}/.default` }).toString(),
      });
    expect((await token(sp.clientSecret)).status).toBe(200);
    expect((await token(`wrong-${randomUUID()}`)).status).toBe(401);

    const docs = await searchUntil({ principal: sp.appId, operation: 'Authentication', since: '1h' }, (d) => d.length >= 2);
    expect(docs).toHaveLength(2);
    const ok = docs.find((d) => d.event.outcome === 'success')!;
    const denied = docs.find((d) => d.event.outcome === 'failure')!;
    expect(ok).toMatchObject({ event: { action: 'Authentication', outcome: 'success' }, user: { id: sp.objectId }, azure: { operationName: 'Authentication', resultType: 'Success', resultSignature: '200', source: 'identity', identity: { oid: sp.objectId, appid: sp.appId } } });
    expect(denied).toMatchObject({ event: { action: 'Authentication', outcome: 'failure' }, user: { id: sp.appId }, azure: { resultType: 'Failure', resultSignature: '401', identity: { appid: sp.appId } } });
    expect(status(denied)).toBe(401);
  });

  it('answers 401 with a bearer challenge without a token, and 403 to a principal without the Keyledger Auditor role; both are audited', async () => {
    const anonymous = await audit('/audit/records', { token: null });
    expect(anonymous.status).toBe(401);
    expect(String(anonymous.headers['www-authenticate'])).toBe(`Bearer authorization="${bootstrap.authorityHost}/${bootstrap.tenantId}", resource="${AUDIT_RESOURCE}"`);
    const forbidden = await audit('/audit/records', { creds: sp.credentials });
    expect(forbidden.status).toBe(403);
    expect((forbidden.json as { error: { code: string } }).error.code).toBe('Forbidden');
    const docs = await searchUntil({ principal: sp.objectId, operation: 'AuditRecordSearch' }, (d) => d.length >= 1);
    expect(docs[0]).toMatchObject({ event: { outcome: 'failure' }, azure: { resultSignature: '403', source: 'audit', properties: { isRbacAuthorized: true } } });
  });

  it('audits its own requests: a search leaves a record carrying the caller\'s correlation id', async () => {
    const correlation = randomUUID();
    const res = await audit('/audit/records?since=5m&pageSize=1', { headers: { 'x-ms-client-request-id': correlation } });
    expect(res.status).toBe(200);
    // The polling searches name the id in their own URLs: keep the record whose correlation id it is.
    const found = await searchUntil({ q: correlation }, (d) => d.some((x) => x.azure.correlationId === correlation));
    const docs = found.filter((x) => x.azure.correlationId === correlation);
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ event: { action: 'AuditRecordSearch', outcome: 'success' }, user: { id: expect.any(String) }, azure: { correlationId: correlation, source: 'audit', properties: { isRbacAuthorized: true } } });
  });
});

describe('audit API: SecretClient calls by one principal and a refused call by another', () => {
  let vault: string;
  let writer: ServicePrincipal;
  let stranger: ServicePrincipal;
  const name = `audited-${suffix()}`;

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-aud');
    writer = await createServicePrincipal(`e2e-audit-writer-${suffix()}`);
    stranger = await createServicePrincipal(`e2e-audit-stranger-${suffix()}`);
    await assignRole(writer.objectId, 'Key Vault Secrets Officer', `/vaults/${vault}`);
    const client = secretClient(vaultUrl(vault), credential(writer.credentials));
    // The assignment reaches the vault's read model within a second: wait on a listing (another operation).
    await waitFor(async () => ((await client.listPropertiesOfSecrets().next().then(() => true, () => false)) ? true : undefined), { timeoutMs: 20_000, what: 'the role assignment' });
    await client.setSecret(name, `value-${randomUUID()}`);
    await client.getSecret(name);
    await expect(secretClient(vaultUrl(vault), credential(stranger.credentials)).getSecret(name)).rejects.toMatchObject({ statusCode: 403 });
  });

  afterAll(async () => {
    await dropVault(vault);
  });

  it('returns exactly those three records with operation names, outcomes and caller ids', async () => {
    // The vault's records (the crypto service's own, for the data key of the set, are about the same secret too).
    const docs = await searchUntil({ object: name, vault, service: 'vault' }, (d) => d.filter((x) => x.user?.id).length >= 3);
    const byCaller = docs.filter((d) => d.user?.id).map((d) => ({ action: d.event.action, outcome: d.event.outcome, caller: d.user?.id, status: status(d) }));
    expect(byCaller.sort((a, b) => `${a.caller}${a.action}`.localeCompare(`${b.caller}${b.action}`))).toEqual(
      [
        { action: 'SecretGet', outcome: 'success', caller: writer.objectId, status: 200 },
        { action: 'SecretSet', outcome: 'success', caller: writer.objectId, status: 200 },
        { action: 'SecretGet', outcome: 'failure', caller: stranger.objectId, status: 403 },
      ].sort((a, b) => `${a.caller}${a.action}`.localeCompare(`${b.caller}${b.action}`)),
    );
    // The SDK's challenge round trips (no token yet) are audited too, without a caller.
    expect(docs.filter((d) => !d.user?.id).every((d) => status(d) === 401)).toBe(true);
    for (const d of docs) expect(d).toMatchObject({ keyledger: { vault, object: { kind: 'secret', name, ref: `${vault}/secrets/${name}` } } });
  });

  it('aggregates usage per key, principal and operation', async () => {
    const res = await audit(`/audit/usage?${new URLSearchParams({ since: '1h', vault, object: name, service: 'vault', by: 'principal,operation' })}`);
    expect(res.status).toBe(200);
    const usage = res.json as { total: number; byPrincipal: { key: string; count: number; failure: number }[]; byOperation: { key: string; count: number }[] };
    expect(usage.byPrincipal).toEqual(expect.arrayContaining([expect.objectContaining({ key: writer.objectId, count: 2, failure: 0 }), expect.objectContaining({ key: stranger.objectId, count: 1, failure: 1 })]));
    expect(usage.byOperation.map((b) => b.key).sort()).toEqual(['SecretGet', 'SecretSet']);
  });

  it('returns a record from the ledger with a chain proof that ends in a signed checkpoint', async () => {
    const [doc] = await search({ object: name, principal: writer.objectId, operation: 'SecretSet', service: 'vault' });
    const proof = await waitFor(
      async () => {
        const res = await audit(`/audit/records/${doc!.event.id}`);
        expect(res.status).toBe(200);
        const body = res.json as { record: { id: string }; ledger: { seq: number; hash: string }; proof: { verified: boolean; checkpoint: { headSeq: number } | null; path: { seq: number }[] } };
        return body.proof.verified ? body : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 2_000, what: 'a signed checkpoint over the record' },
    );
    expect(proof.record.id).toBe(doc!.event.id);
    // Sealed by the signer in use (the crypto service's key unless AUDIT_CHECKPOINT_SIGNER=local), whose public key is published.
    const keys = (await audit('/audit/signing-keys')).json as { provider: string; keys: { kid: string; crv: string }[] };
    const cp = (proof.proof as unknown as { checkpoint: { keyId: string } }).checkpoint;
    expect(keys.keys.map((k) => k.kid)).toContain(cp.keyId);
    expect(cp.keyId.startsWith(keys.provider === 'crypto' ? 'crypto:' : 'local-es256-')).toBe(true);
    expect(proof.proof.checkpoint!.headSeq).toBeGreaterThanOrEqual(proof.ledger.seq);
    expect(proof.proof.path.length).toBe(proof.proof.checkpoint!.headSeq - proof.ledger.seq);
  });

  it('keyledger audit search --json prints a JSON array of ECS documents', async () => {
    const { stdout } = await cli(['audit', 'search', '--object', name, '--principal', writer.objectId, '--service', 'vault', '--since', '1h', '--json']);
    const docs = JSON.parse(stdout) as Doc[];
    expect(docs.map((d) => d.event.action).sort()).toEqual(['SecretGet', 'SecretSet']);
    for (const d of docs) expect(Object.keys(d)).toEqual(expect.arrayContaining(['@timestamp', 'event', 'user', 'source', 'keyledger', 'azure']));
  });
});

describe('keyledger audit tail and verify', () => {
  it('tail shows new records as they are appended', async () => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'keyledger.mjs'), 'audit', 'tail', '--json'], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Doc[] = [];
    let buffer = '';
    child.stdout.on('data', (c: Buffer) => {
      buffer += c.toString();
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        if (line.trim()) lines.push(JSON.parse(line) as Doc);
      }
    });
    try {
      // The tail's own stream request is audited: it shows up in the tail itself.
      await waitFor(() => (lines.some((d) => d.event.action === 'AuditRecordStream') ? true : undefined), { timeoutMs: 30_000, what: 'the tail to open' });
      const marker = randomUUID();
      await audit('/audit/chains', { headers: { 'x-ms-client-request-id': marker } });
      const seen = await waitFor(() => lines.find((d) => d.azure.correlationId === marker), { timeoutMs: 30_000, what: 'the new record in the tail' });
      expect(seen).toMatchObject({ event: { action: 'AuditChainList', outcome: 'success' } });
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('verify reports the administrator tenant\'s chain intact', async () => {
    const { stdout } = await cli(['audit', 'verify', '--json']);
    const result = JSON.parse(stdout) as { ok: boolean; chain: string; records: number; brokenLink?: unknown };
    expect(result).toMatchObject({ ok: true, chain: bootstrap.tenantId });
    expect(result.records).toBeGreaterThan(0);
  });
});
