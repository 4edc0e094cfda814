import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { REPO_ROOT } from '#libs/platform';
import {
  accessToken,
  assignRole,
  auditRecords,
  CA,
  closeDb,
  createServicePrincipal,
  createVault,
  dropVault,
  eventually,
  suffix,
  VAULT_RESOURCE,
  vaultUrl,
} from './vault-e2e.support.js';

jest.setTimeout(60_000);

const GRPC_PORT = Number(process.env.VAULT_GRPC_PORT ?? 8445);
type Unary = (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: Record<string, unknown>) => void) => void;
type SecretsClient = grpc.Client & Record<'get' | 'set' | 'list' | 'delete' | 'batchGet', Unary>;
type Reflection = grpc.Client & { serverReflectionInfo: () => grpc.ClientDuplexStream<object, Record<string, unknown>> };

/** The reflection protocol as @grpc/reflection (the server's implementation) ships it. */
const REFLECTION_V1ALPHA_PROTO = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')), 'build', 'proto', 'grpc', 'reflection', 'v1alpha', 'reflection.proto');

function load(): { Secrets: grpc.ServiceClientConstructor; Reflection: grpc.ServiceClientConstructor } {
  const opts = { keepCase: false, longs: Number, defaults: true, arrays: true, oneofs: true };
  const secrets = grpc.loadPackageDefinition(protoLoader.loadSync(join(REPO_ROOT, 'libs', 'contracts', 'proto', 'keyledger', 'v1', 'secrets.proto'), opts)) as unknown as {
    keyledger: { v1: { Secrets: grpc.ServiceClientConstructor } };
  };
  const reflection = grpc.loadPackageDefinition(protoLoader.loadSync(REFLECTION_V1ALPHA_PROTO, opts)) as unknown as {
    grpc: { reflection: { v1alpha: { ServerReflection: grpc.ServiceClientConstructor } } };
  };
  return { Secrets: secrets.keyledger.v1.Secrets, Reflection: reflection.grpc.reflection.v1alpha.ServerReflection };
}

type CallResult = { err: grpc.ServiceError | null; res?: Record<string, unknown> };

describe('the vault gRPC API for applications (keyledger.v1.Secrets)', () => {
  let vault: string;
  let client: SecretsClient;
  let token: string;
  const { Secrets, Reflection } = load();
  const creds = grpc.credentials.createSsl(CA);

  const call = (method: 'get' | 'set' | 'list' | 'delete' | 'batchGet', req: object, bearer: string | undefined = token, c: SecretsClient = client): Promise<CallResult> =>
    new Promise((resolve) => {
      const md = new grpc.Metadata();
      if (bearer) md.set('authorization', `Bearer ${bearer}`);
      c[method](req, md, (err, res) => resolve({ err, ...(res ? { res } : {}) }));
    });

  beforeAll(async () => {
    vault = await createVault('e2e-grpc');
    token = await accessToken(VAULT_RESOURCE);
    client = new Secrets(`localhost:${GRPC_PORT}`, creds) as unknown as SecretsClient;
  });

  afterAll(async () => {
    client.close();
    await dropVault(vault);
    await closeDb();
  });

  it('sets, gets (latest and by version), lists and deletes', async () => {
    const set = await call('set', { vault, name: 'app-config', value: 'grpc-value', contentType: 'text/plain', tags: { via: 'grpc' } });
    expect(set.err).toBeNull();
    const s = set.res as { id: string; version: string; value: string; attributes: { enabled: boolean; recoverableDays: number } };
    expect(s.id).toBe(`${vaultUrl(vault)}/secrets/app-config/${s.version}`);
    expect(s.attributes.enabled).toBe(true);
    expect(s.attributes.recoverableDays).toBe(7);
    expect((await call('get', { vault, name: 'app-config' })).res?.value).toBe('grpc-value');
    expect((await call('get', { vault, name: 'app-config', version: s.version })).res?.value).toBe('grpc-value');
    const list = await call('list', { vault, maxResults: 10 });
    expect((list.res?.secrets as { name: string; value: string }[]).map((x) => [x.name, x.value])).toContainEqual(['app-config', '']);
    const del = await call('delete', { vault, name: 'app-config' });
    expect(del.res?.recoveryId).toBe(`${vaultUrl(vault)}/deletedsecrets/app-config`);
    const gone = await call('get', { vault, name: 'app-config' });
    expect(gone.err?.code).toBe(grpc.status.NOT_FOUND);
    expect(gone.err?.metadata.get('keyledger-error-code')).toEqual(['SecretNotFound']);
  });

  it('batch-gets up to 25 secrets, answering each name on its own', async () => {
    await call('set', { vault, name: 'b1', value: 'one' });
    await call('set', { vault, name: 'b2', value: 'two' });
    const res = await call('batchGet', { vault, names: ['b1', 'b2', 'missing'] });
    const items = res.res?.items as { name: string; secret?: { value: string }; error?: { code: string; status: number } }[];
    expect(items.map((i) => [i.name, i.secret?.value ?? i.error?.code])).toEqual([
      ['b1', 'one'],
      ['b2', 'two'],
      ['missing', 'SecretNotFound'],
    ]);
    expect((await call('batchGet', { vault, names: [] })).err?.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('authenticates with the bearer token in metadata and enforces RBAC per secret', async () => {
    const anonymous = await call('get', { vault, name: 'b1' }, '');
    expect(anonymous.err?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(String(anonymous.err?.metadata.get('www-authenticate')[0])).toMatch(/^Bearer authorization="/);
    const sp = await createServicePrincipal(`e2e-grpc-${suffix()}`);
    await assignRole(sp.objectId, 'Key Vault Secrets User', `/vaults/${vault}/secrets/b1`);
    const readerToken = await accessToken(VAULT_RESOURCE, sp.credentials);
    const granted = await eventually(async () => ((await call('get', { vault, name: 'b1' }, readerToken)).err === null ? true : undefined));
    expect(granted).toBe(true);
    const denied = await call('get', { vault, name: 'b2' }, readerToken);
    expect(denied.err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied.err?.metadata.get('keyledger-inner-error-code')).toEqual(['ForbiddenByRbac']);
    const batch = await call('batchGet', { vault, names: ['b1', 'b2'] }, readerToken);
    expect((batch.res?.items as { error?: { innerCode: string } }[]).map((i) => i.error?.innerCode ?? 'ok')).toEqual(['ok', 'ForbiddenByRbac']);
    const write = await call('set', { vault, name: 'b1', value: 'x' }, readerToken);
    expect(write.err?.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('accepts the same token audiences as the REST API: the vault resource with and without its port', async () => {
    const withPort = await accessToken(`${VAULT_RESOURCE}:${process.env.VAULT_PORT ?? 8443}`);
    expect((await call('get', { vault, name: 'b1' }, withPort)).res?.value).toBe('one');
    const otherPort = await accessToken(`${VAULT_RESOURCE}:9999`);
    const refused = await call('get', { vault, name: 'b1' }, otherPort);
    expect(refused.err?.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('audits every call once', async () => {
    const before = Date.now();
    await call('get', { vault, name: 'b1' });
    await call('get', { vault, name: 'nope' });
    const rows = await (async () => {
      const { db } = await import('./vault-e2e.support.js');
      const res = await db().query<{ id: string }>(
        `SELECT payload->'data'->>'id' AS id FROM vault.outbox WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->>'operationVersion' = 'keyledger.v1'
            AND payload->'data'->'properties'->>'vault' = $1 AND created_at >= to_timestamp($2 / 1000.0)`,
        [vault, before],
      );
      return auditRecords(res.rows.map((r) => r.id));
    })();
    expect(rows.map((r) => [r.operationName, r.resultSignature]).sort()).toEqual([
      ['SecretGet', '200'],
      ['SecretGet', '404'],
    ]);
  });

  it('serves reflection (list services, file containing symbol)', async () => {
    const r = new Reflection(`localhost:${GRPC_PORT}`, creds) as unknown as Reflection;
    const stream = r.serverReflectionInfo();
    const answers: Record<string, unknown>[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (m: Record<string, unknown>) => {
        answers.push(m);
        if (answers.length === 2) stream.end();
      });
      stream.on('end', () => resolve());
      stream.on('error', reject);
    });
    stream.write({ listServices: '' });
    stream.write({ fileContainingSymbol: 'keyledger.v1.Secrets' });
    await done;
    r.close();
    const services = (answers[0]!.listServicesResponse as { service: { name: string }[] }).service.map((s) => s.name);
    expect(services).toContain('keyledger.v1.Secrets');
    const files = (answers[1]!.fileDescriptorResponse as { fileDescriptorProto: Buffer[] }).fileDescriptorProto;
    expect(files.length).toBeGreaterThan(0);
    expect(Buffer.concat(files).toString('latin1')).toContain('BatchGetSecretsRequest');
  });
});
