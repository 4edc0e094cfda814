/**
 * KeyOperationBatch through the real gRPC API (mutual TLS, PKCS#11 root): each item is run and
 * audited on its own (exactly one record per item, with the item's own caller context and
 * outcome), results come back in item order with per-item error codes, a malformed batch is
 * refused (and audited) as a whole, and when the audit records cannot be made durable the
 * whole call fails with AuditUnavailable and no result of the batch leaves.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { constants, createHash, publicEncrypt, randomBytes, verify as nodeVerify } from 'node:crypto';
import grpc from '@grpc/grpc-js';
import type { KeyOperationRequest, KeyVersion } from '#libs/crypto-client';
import { cryptoErrorOf, startTestCrypto, type TestCrypto } from './testing/crypto.harness.js';
import { keyRef, publicKeyOf } from './testing/jwk.helpers.js';

let t: TestCrypto;
let tenant: string;
const keys: Record<'rsa' | 'ec' | 'rsaHsm' | 'ecHsm', { ref: ReturnType<typeof keyRef>; key: KeyVersion }> = {} as never;

beforeAll(async () => {
  t = await startTestCrypto({ root: 'pkcs11' });
  tenant = t.ctx().tenantId;
  for (const [name, kty] of [
    ['rsa', 'RSA'],
    ['ec', 'EC'],
    ['rsaHsm', 'RSA-HSM'],
    ['ecHsm', 'EC-HSM'],
  ] as const) {
    const ref = keyRef(tenant, name.toLowerCase());
    const { key } = await t.client.createKey({ ctx: t.ctx('KeyCreate'), ref, kty, ...(kty.startsWith('EC') ? { crv: 'P-256' } : { keySize: 2048 }) });
    keys[name] = { ref, key };
  }
});

afterAll(async () => {
  await t?.close();
});

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

function signItem(k: keyof typeof keys, message: Buffer): KeyOperationRequest & { ctx: ReturnType<TestCrypto['ctx']> } {
  const algorithm = k.startsWith('rsa') ? 'RS256' : 'ES256';
  return { ctx: t.ctx('KeySign'), ref: keys[k].ref, algorithm, value: sha256(message) };
}

function validSignature(k: keyof typeof keys, message: Buffer, signature: Buffer): boolean {
  const pub = publicKeyOf(keys[k].key);
  return k.startsWith('rsa') ? nodeVerify('sha256', message, pub, signature) : nodeVerify('sha256', message, { key: pub, dsaEncoding: 'ieee-p1363' }, signature);
}

describe('KeyOperationBatch', () => {
  it('signs every item (software on the worker pool, HSM in the token), in order, each with exactly one audit record of its own', async () => {
    const order = ['rsa', 'ec', 'rsaHsm', 'ecHsm', 'rsa', 'ec', 'ec', 'rsa', 'ecHsm', 'rsaHsm'] as const;
    const messages = order.map(() => randomBytes(40));
    const items = order.map((k, i) => signItem(k, messages[i]!));
    const { results } = await t.client.keyOperationBatch({ operation: 'sign', items });
    expect(results).toHaveLength(items.length);
    for (const [i, r] of results.entries()) {
      const k = order[i]!;
      expect(r.errorCode).toBe('');
      expect(r.response!.kidVersion).toBe(keys[k].ref.version);
      expect(validSignature(k, messages[i]!, r.response!.result)).toBe(true);
      const records = await t.auditRecords(items[i]!.ctx.correlationId);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({
        operationName: 'KeySign',
        resultType: 'Success',
        resultSignature: 'OK',
        correlationId: items[i]!.ctx.correlationId,
        callerIpAddress: items[i]!.ctx.callerIp,
        identity: { oid: items[i]!.ctx.objectId, appid: items[i]!.ctx.appId, tid: tenant },
        properties: { algorithm: items[i]!.algorithm, objectName: keys[k].ref.name, objectVersion: keys[k].ref.version, extra: { hsm: String(k.endsWith('Hsm')), callerOperation: 'KeySign' } },
      });
    }
  });

  it('an item that fails carries its own error code and Failure record; the other items still run', async () => {
    const good = randomBytes(16);
    const items = [
      signItem('rsa', good),
      { ctx: t.ctx('KeySign'), ref: keys.ec.ref, algorithm: 'ES256', value: randomBytes(20) },
      { ctx: t.ctx('KeySign'), ref: keyRef(tenant, 'no-such-key'), algorithm: 'RS256', value: sha256(good) },
      signItem('ec', good),
    ];
    const { results } = await t.client.keyOperationBatch({ operation: 'sign', items });
    expect(results.map((r) => r.errorCode)).toEqual(['', 'BadParameter', 'KeyNotFound', '']);
    expect(results[1]!.response).toBeNull();
    expect(results[1]!.errorMessage).not.toBe('');
    expect(validSignature('rsa', good, results[0]!.response!.result)).toBe(true);
    expect(validSignature('ec', good, results[3]!.response!.result)).toBe(true);
    const records = await Promise.all(items.map((i) => t.auditRecords(i.ctx.correlationId)));
    expect(records.map((r) => r.length)).toEqual([1, 1, 1, 1]);
    expect(records.map((r) => r[0]!.resultType)).toEqual(['Success', 'Failure', 'Failure', 'Success']);
    expect(records[1]![0]!.properties.errorCode).toBe('BadParameter');
    expect(records[2]![0]!.properties.errorCode).toBe('KeyNotFound');
  });

  it('decrypts a batch (RSA-OAEP-256 on the workers)', async () => {
    const pub = publicKeyOf(keys.rsa.key);
    const plaintexts = Array.from({ length: 8 }, () => randomBytes(32));
    const items = plaintexts.map((p) => ({ ctx: t.ctx('KeyDecrypt'), ref: keys.rsa.ref, algorithm: 'RSA-OAEP-256', value: publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, p) }));
    const { results } = await t.client.keyOperationBatch({ operation: 'decrypt', items });
    expect(results.map((r) => r.response!.result.toString('hex'))).toEqual(plaintexts.map((p) => p.toString('hex')));
    for (const i of items) expect(await t.auditRecords(i.ctx.correlationId)).toMatchObject([{ operationName: 'KeyDecrypt', resultType: 'Success' }]);
  });

  it('a malformed batch is refused as a whole, and the refusal is audited', async () => {
    const unknown = signItem('rsa', randomBytes(8));
    const err = await cryptoErrorOf(t.client.keyOperationBatch({ operation: 'export' as never, items: [unknown] }));
    expect(err).toMatchObject({ code: 'BadParameter', grpcStatus: grpc.status.INVALID_ARGUMENT });
    expect(await t.auditRecords(unknown.ctx.correlationId)).toMatchObject([{ operationName: 'KeyOperationBatch', resultType: 'Failure', properties: { errorCode: 'BadParameter' } }]);
    expect(await cryptoErrorOf(t.client.keyOperationBatch({ operation: 'sign', items: [] }))).toMatchObject({ code: 'BadParameter' });
    const tooMany = Array.from({ length: 1001 }, () => signItem('ec', Buffer.alloc(1)));
    expect(await cryptoErrorOf(t.client.keyOperationBatch({ operation: 'sign', items: tooMany }))).toMatchObject({ code: 'BadParameter' });
    expect(await t.auditRecords(tooMany[1]!.ctx.correlationId)).toHaveLength(0);
    expect(await t.auditRecords(tooMany[0]!.ctx.correlationId)).toMatchObject([{ operationName: 'KeyOperationBatch', resultType: 'Failure' }]);
  });

  it('fails closed: when the audit records cannot be made durable, the call fails with AuditUnavailable and no result of the batch leaves', async () => {
    await t.sql(`CREATE OR REPLACE FUNCTION ${t.schema}.audit_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$;
      CREATE TRIGGER audit_down BEFORE INSERT ON ${t.schema}.outbox FOR EACH ROW EXECUTE FUNCTION ${t.schema}.audit_down()`);
    const items = [signItem('rsa', randomBytes(8)), signItem('ec', randomBytes(8)), signItem('ecHsm', randomBytes(8)), { ...signItem('ec', randomBytes(8)), value: randomBytes(3) }];
    let err;
    try {
      err = await cryptoErrorOf(t.client.keyOperationBatch({ operation: 'sign', items }));
    } finally {
      await t.sql(`DROP TRIGGER IF EXISTS audit_down ON ${t.schema}.outbox`);
    }
    expect(err).toMatchObject({ code: 'AuditUnavailable', grpcStatus: grpc.status.UNAVAILABLE });
    for (const i of items) expect(await t.auditRecords(i.ctx.correlationId)).toHaveLength(0);
    // One item's record refused is enough: the records of a batch are durable together or not at all.
    const victim = signItem('ec', randomBytes(8));
    const others = [signItem('rsa', randomBytes(8)), signItem('ecHsm', randomBytes(8))];
    await t.sql(`CREATE OR REPLACE FUNCTION ${t.schema}.audit_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.payload->>'correlationId' = '${victim.ctx.correlationId}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER audit_down BEFORE INSERT ON ${t.schema}.outbox FOR EACH ROW EXECUTE FUNCTION ${t.schema}.audit_down()`);
    try {
      err = await cryptoErrorOf(t.client.keyOperationBatch({ operation: 'sign', items: [others[0]!, victim, others[1]!] }));
    } finally {
      await t.sql(`DROP TRIGGER IF EXISTS audit_down ON ${t.schema}.outbox`);
    }
    expect(err).toMatchObject({ code: 'AuditUnavailable' });
    for (const i of [victim, ...others]) expect(await t.auditRecords(i.ctx.correlationId)).toHaveLength(0);
    // The service works again once the audit store does.
    const again = signItem('rsa', randomBytes(8));
    const { results } = await t.client.keyOperationBatch({ operation: 'sign', items: [again] });
    expect(results[0]!.errorCode).toBe('');
    expect(await t.auditRecords(again.ctx.correlationId)).toHaveLength(1);
  });
});
