import { describe, expect, it } from '@jest/globals';
import type { Principal } from '#libs/auth';
import type { AuditRecord } from '#libs/contracts';
import { DomainError } from '#libs/kernel';
import { AuditedOperationGate, type GatePorts, type GateRequest } from './audited-operation.gate.js';
import { GateError, GateErrorCode } from './gate.errors.js';
import { LoadShedder } from './load-shedder.js';
import type { OperationDeclaration } from './operation.js';

type Vault = { name: string; tenantId: string };
const TENANT = '3f1c5b7e-0000-4000-8000-000000000001';
const ALICE: Principal = { objectId: 'a11ce000-0000-4000-8000-000000000001', tenantId: TENANT, appId: 'app-1', idType: 'app', tokenId: 'jti-1', expiresAt: 2_000_000_000 };

class Unauthorized extends Error {}
class VersionRejected extends Error {}

/** A gate over fakes: one vault `dev`, one token `good` for ALICE, who may only read secrets of `dev`. */
function fixture(options: { ready?: boolean; auditDown?: boolean; draining?: boolean; budget?: number; shedder?: LoadShedder } = {}) {
  const records: AuditRecord[] = [];
  let spent = 0;
  const ports: GatePorts<Vault> = {
    source: 'vault',
    ...(options.budget !== undefined ? { throttle: () => (spent++ < (options.budget ?? 0) ? undefined : 7) } : {}),
    ...(options.shedder ? { shedder: options.shedder } : {}),
    draining: () => options.draining ?? false,
    resolve: async (name) => (name.toLowerCase() === 'dev' ? { name: 'dev', tenantId: TENANT } : undefined),
    describe: (v) => ({ name: v.name, tenantId: v.tenantId, scope: `/vaults/${v.name}` }),
    ready: () => options.ready ?? true,
    authenticate: async (authorization) => {
      if (authorization !== 'Bearer good') throw new Unauthorized('bad token');
      return ALICE;
    },
    credentialMissing: () => new Unauthorized('no token'),
    check: (principalId, action, resource) =>
      principalId === ALICE.objectId && action === 'secrets/get' && resource.startsWith('/vaults/dev/secrets') ? { allowed: true, assignmentId: 'as-1' } : { allowed: false },
    administratorAssignment: () => undefined,
    fallbackTenant: () => TENANT,
    audit: {
      write: async (r) => {
        if (options.auditDown) throw new Error('database down');
        records.push(r);
      },
    },
    onAuditFailure: () => undefined,
  };
  return { gate: new AuditedOperationGate(ports), records };
}

const GET: OperationDeclaration = {
  name: 'SecretGet',
  kind: 'data',
  action: 'secrets/get',
  collection: 'secrets',
  nameParam: 'name',
  validate: (n) => {
    if (n !== undefined && !/^[0-9a-zA-Z-]+$/.test(n)) throw new DomainError('BadParameter', 'The request URI contains an invalid name');
  },
};
const SET: OperationDeclaration = { ...GET, name: 'SecretSet', action: 'secrets/set' };
const ADMIN: OperationDeclaration = { name: 'VaultList', kind: 'admin' };

const facts = { requestId: 'r-1', correlationId: 'c-1', callerIp: '127.0.0.1', method: 'GET', requestUri: '/secrets/db', userAgent: 'test' };
const request = (over: Partial<GateRequest> = {}): GateRequest => ({
  op: GET,
  containerName: 'dev',
  origin: 'https://dev.vault.localhost:8443',
  authorization: 'Bearer good',
  objectName: 'db',
  operationVersion: () => '7.6',
  ...over,
});
/** The transport's table, reduced to what the cases need. */
const classify = (err: unknown): { status: number; code: string } => {
  if (err instanceof Unauthorized) return { status: 401, code: 'Unauthorized' };
  if (err instanceof VersionRejected) return { status: 400, code: 'BadParameter' };
  if (err instanceof GateError) return { status: err.code === GateErrorCode.Forbidden ? 403 : err.code === GateErrorCode.ContainerNotFound ? 404 : 503, code: err.code };
  if (err instanceof DomainError) return { status: 400, code: err.code };
  return { status: 500, code: 'InternalServerError' };
};

describe('AuditedOperationGate', () => {
  it('admits an authorised request, runs it and writes exactly one Success record with the RBAC decision', async () => {
    const { gate, records } = fixture();
    const audit = gate.open(GET, facts);
    const out = await gate.run(audit, request(), async (a) => `value of ${a.audit.objectName}`, classify);
    expect(out).toMatchObject({ kind: 'ok', value: 'value of db' });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      id: 'r-1',
      tenant: TENANT,
      source: 'vault',
      resourceId: '/vaults/dev',
      operationName: 'SecretGet',
      operationVersion: '7.6',
      resultType: 'Success',
      resultSignature: '200',
      identity: { oid: ALICE.objectId, tid: TENANT, appid: 'app-1', idtyp: 'app' },
      properties: { isRbacAuthorized: true, appliedAssignmentId: 'as-1', id: 'https://dev.vault.localhost:8443/secrets/db', collection: 'secrets', objectName: 'db' },
    });
  });

  const refusals: ReadonlyArray<[string, Partial<GateRequest>, { ready?: boolean }, number, string]> = [
    ['an unknown container', { containerName: 'nope' }, {}, 404, 'VaultNotFound'],
    ['no container at all', { containerName: undefined }, {}, 404, 'VaultNotFound'],
    ['a service that is not ready', {}, { ready: false }, 503, 'ServiceStarting'],
    ['no credential', { authorization: undefined }, {}, 401, 'Unauthorized'],
    ['a bad credential', { authorization: 'Bearer forged' }, {}, 401, 'Unauthorized'],
    ['a rejected protocol version (with a credential)', { operationVersion: () => { throw new VersionRejected('bad api-version'); } }, {}, 400, 'BadParameter'],
    ['an invalid object name', { objectName: 'bad name!' }, {}, 400, 'BadParameter'],
    ['an action the caller holds no role for', { op: SET }, {}, 403, 'ForbiddenByRbac'],
    ['an admin operation without the administrator role', { op: ADMIN, containerName: undefined }, {}, 403, 'ForbiddenByRbac'],
  ];
  it.each(refusals)('refuses %s: the right code, nothing executed, exactly one Failure record', async (_what, over, opts, status, code) => {
    const { gate, records } = fixture(opts);
    let executed = false;
    const audit = gate.open(over.op ?? GET, facts);
    const out = await gate.run(audit, request(over), async () => {
      executed = true;
      return 'never';
    }, classify);
    expect(out.kind).toBe('failed');
    expect(executed).toBe(false);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ resultType: 'Failure', resultSignature: String(status), resultDescription: code, properties: { errorCode: code } });
  });

  it('records the caller and the object of a request refused while the service starts, when its token verifies', async () => {
    const { gate, records } = fixture({ ready: false });
    const audit = gate.open(GET, facts);
    const out = await gate.run(audit, request(), async () => 'never', classify);
    expect(out.kind).toBe('failed');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      resultSignature: '503',
      identity: { oid: ALICE.objectId, tid: TENANT, appid: 'app-1' },
      properties: { objectName: 'db', id: 'https://dev.vault.localhost:8443/secrets/db' },
    });
  });

  it('answers a spent budget with Throttled and the seconds to wait, after authentication, audited once with the caller', async () => {
    const { gate, records } = fixture({ budget: 1 });
    expect((await gate.run(gate.open(GET, facts), request(), async () => 'ok', classify)).kind).toBe('ok');
    let executed = false;
    const out = await gate.run(gate.open(GET, facts), request(), async () => {
      executed = true;
      return 'never';
    }, classify);
    expect(out.kind).toBe('failed');
    expect(executed).toBe(false);
    const err = (out as { error: unknown }).error;
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).code).toBe(GateErrorCode.Throttled);
    expect((err as GateError).details.retryAfterSeconds).toBe(7);
    expect(records).toHaveLength(2);
    expect(records[1]).toMatchObject({ resultType: 'Failure', identity: { oid: ALICE.objectId } });
  });

  it('sheds a request beyond the bound on concurrent work with Overloaded and Retry-After, audited once with the caller, and frees the slot when a request is recorded', async () => {
    const shedder = new LoadShedder({ maxInFlight: 1, maxQueued: 0, maxQueueMs: 0 });
    const { gate, records } = fixture({ shedder });
    let finishFirst: () => void = () => undefined;
    const first = gate.run(gate.open(GET, facts), request(), () => new Promise<string>((r) => (finishFirst = () => r('ok'))), classify);
    await new Promise((r) => setImmediate(r));
    let executed = false;
    const shed = await gate.run(gate.open(GET, { ...facts, requestId: 'r-2' }), request(), async () => {
      executed = true;
      return 'never';
    }, classify);
    expect(shed.kind).toBe('failed');
    expect(executed).toBe(false);
    const err = (shed as { error: unknown }).error as GateError;
    expect(err.code).toBe(GateErrorCode.Overloaded);
    expect(err.details.retryAfterSeconds).toBe(1);
    expect(records[0]).toMatchObject({ resultType: 'Failure', resultDescription: 'ServerBusy', identity: { oid: ALICE.objectId } });
    finishFirst();
    expect((await first).kind).toBe('ok');
    expect(shedder.stats()).toEqual({ inFlight: 0, queued: 0, shed: 1 });
    // The slot is free again: the next request is served.
    expect((await gate.run(gate.open(GET, { ...facts, requestId: 'r-3' }), request(), async () => 'ok', classify)).kind).toBe('ok');
    expect(records).toHaveLength(3);
  });

  it('refuses a request that arrives during graceful shutdown with an audited 503 naming the caller', async () => {
    const { gate, records } = fixture({ draining: true });
    let executed = false;
    const out = await gate.run(gate.open(GET, facts), request(), async () => {
      executed = true;
      return 'never';
    }, classify);
    expect(out.kind).toBe('failed');
    expect(executed).toBe(false);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ resultSignature: '503', resultDescription: 'ServiceStarting', identity: { oid: ALICE.objectId } });
  });

  it('records a starting-time refusal with an unverifiable token or an invalid name without identity or object', async () => {
    const { gate, records } = fixture({ ready: false });
    await gate.run(gate.open(GET, facts), request({ authorization: 'Bearer forged', objectName: 'bad name!' }), async () => 'never', classify);
    expect(records).toHaveLength(1);
    expect(records[0]?.resultSignature).toBe('503');
    expect(records[0]?.identity?.oid).toBeUndefined();
    expect(records[0]?.properties?.objectName).toBeUndefined();
  });

  it('asks for the credential before judging the protocol version: a request without a token gets the challenge', async () => {
    const { gate, records } = fixture();
    let versionJudged = false;
    const audit = gate.open(GET, facts);
    const out = await gate.run(audit, request({ authorization: undefined, operationVersion: () => { versionJudged = true; throw new VersionRejected('7.6-preview.9'); } }), async () => 'never', classify);
    expect(out.kind).toBe('failed');
    expect(versionJudged).toBe(false);
    expect(records[0]).toMatchObject({ resultSignature: '401' });
  });

  it('fails closed when the audit store is down: no result leaves and the outcome says so', async () => {
    const { gate, records } = fixture({ auditDown: true });
    const audit = gate.open(GET, facts);
    const out = await gate.run(audit, request(), async () => 'the secret value', classify);
    expect(out.kind).toBe('audit-unavailable');
    expect(JSON.stringify(out)).not.toContain('the secret value');
    expect(records).toHaveLength(0);
    expect(audit.written).toBe(false);
  });

  it('fails closed for a refused request too when its record cannot be written', async () => {
    const { gate } = fixture({ auditDown: true });
    const audit = gate.open(GET, facts);
    const out = await gate.run(audit, request({ op: SET }), async () => 'never', classify);
    expect(out.kind).toBe('audit-unavailable');
  });

  it('writes no second record for a mutation that committed its record with its events', async () => {
    const { gate, records } = fixture();
    const audit = gate.open(GET, facts);
    const out = await gate.run(audit, request(), async (a) => {
      // The append transaction carries a.audit.forCommit(200) and then marks it committed.
      expect(a.audit.forCommit(200)).toMatchObject({ operationName: 'SecretGet', resultSignature: '200' });
      a.audit.committed();
      return 'stored';
    }, classify);
    expect(out.kind).toBe('ok');
    expect(records).toHaveLength(0);
  });

  it('finish is idempotent: a request is recorded once however often its transport finishes it', async () => {
    const { gate, records } = fixture();
    const audit = gate.open(GET, facts);
    expect(await gate.finish(audit, 404, 'NotFound')).toBe(true);
    expect(await gate.finish(audit, 404, 'NotFound')).toBe(true);
    expect(records).toHaveLength(1);
  });
});

describe('containers of another kind (Managed HSM pools)', () => {
  type Container = { name: string; tenantId: string; kind: 'vault' | 'managedHsm' };
  const KEY_SIGN: OperationDeclaration = { name: 'KeySign', kind: 'data', action: 'vaults/keys/sign', collection: 'keys', nameParam: 'name' };

  function poolFixture() {
    const records: AuditRecord[] = [];
    const checked: { action: string; resource: string }[] = [];
    const gate = new AuditedOperationGate<Container>({
      source: 'vault',
      // A pool and a vault may share a name: the address's kind tells them apart.
      resolve: async (name, kind) => (name === 'dev' ? { name: 'dev', tenantId: TENANT, kind: kind === 'managedHsm' ? 'managedHsm' : 'vault' } : undefined),
      describe: (c) => ({ name: c.name, tenantId: c.tenantId, scope: c.kind === 'managedHsm' ? `/managedHSMs/${c.name}` : `/vaults/${c.name}`, ...(c.kind === 'managedHsm' ? { collections: ['keys'] as const } : {}) }),
      actionFor: (op, c) => (c.kind === 'managedHsm' ? (op.action === 'vaults/keys/sign' ? 'managedHsm/keys/sign' : undefined) : op.action),
      ready: () => true,
      authenticate: async () => ALICE,
      credentialMissing: () => new Unauthorized('no token'),
      check: (_p, action, resource) => {
        checked.push({ action, resource });
        return { allowed: true, assignmentId: 'as-hsm' };
      },
      administratorAssignment: () => undefined,
      fallbackTenant: () => TENANT,
      audit: { write: async (r) => void records.push(r) },
      onAuditFailure: () => undefined,
    });
    return { gate, records, checked };
  }

  it('authorises a pool request for the mapped action at the /managedHSMs scope, and records that resource', async () => {
    const { gate, records, checked } = poolFixture();
    const audit = gate.open(KEY_SIGN, facts);
    const out = await gate.run(audit, request({ op: KEY_SIGN, containerKind: 'managedHsm', objectName: 'k1', origin: 'https://dev.managedhsm.localhost:8443' }), async () => 'signed', classify);
    expect(out.kind).toBe('ok');
    expect(checked).toEqual([{ action: 'managedHsm/keys/sign', resource: '/managedHSMs/dev/keys/k1' }]);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ resourceId: '/managedHSMs/dev', resultSignature: '200' });
    expect(records[0]?.properties).toMatchObject({ id: 'https://dev.managedhsm.localhost:8443/keys/k1' });
  });

  it('keeps the declared action for a vault of the same name', async () => {
    const { gate, checked } = poolFixture();
    await gate.run(gate.open(KEY_SIGN, facts), request({ op: KEY_SIGN, containerKind: 'vault', objectName: 'k1' }), async () => 'signed', classify);
    expect(checked).toEqual([{ action: 'vaults/keys/sign', resource: '/vaults/dev/keys/k1' }]);
  });

  it('answers a collection the pool does not serve as a path that does not exist, after authentication, audited once', async () => {
    const { gate, records, checked } = poolFixture();
    const audit = gate.open(GET, facts);
    const out = await gate.run(audit, request({ containerKind: 'managedHsm' }), async () => 'never', (err) => (err instanceof GateError && err.code === GateErrorCode.OperationNotFound ? { status: 404, code: 'NotFound' } : classify(err)));
    expect(out.kind).toBe('failed');
    expect(checked).toEqual([]);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ resultSignature: '404', resourceId: '/managedHSMs/dev' });
    expect(records[0]?.identity).toMatchObject({ oid: ALICE.objectId });
  });
});
