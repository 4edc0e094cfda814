/**
 * Refusals and the audit trail (development root): every bad request is a typed error and
 * leaves exactly one audit record (never with plaintext, digests or material); the key
 * policy (enabled, key_ops, nbf/exp); and fail-closed audit: when the audit record cannot be
 * made durable no result leaves.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import grpc from '@grpc/grpc-js';
import { CryptoError, type CallContext } from '#libs/crypto-client';
import { keyledgerHome } from '#libs/platform';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestCrypto, type TestCrypto } from './testing/crypto.harness.js';
import { keyRef } from './testing/jwk.helpers.js';

let t: TestCrypto;
let tenant: string;
let rsa: ReturnType<typeof keyRef>;
let ec: ReturnType<typeof keyRef>;

beforeAll(async () => {
  t = await startTestCrypto({ root: 'dev' });
  tenant = t.ctx().tenantId;
  rsa = keyRef(tenant, 'rsa');
  ec = keyRef(tenant, 'ec-verify-only');
  await t.client.createKey({ ctx: t.ctx(), ref: rsa, kty: 'RSA' });
  await t.client.createKey({ ctx: t.ctx(), ref: ec, kty: 'EC', crv: 'P-256', keyOps: ['verify'] });
});

afterAll(async () => {
  await t?.close();
});

async function refused(call: (ctx: CallContext) => Promise<unknown>, operationName: string): Promise<{ error: CryptoError; audit: Record<string, unknown> }> {
  const ctx = t.ctx(operationName);
  let error: CryptoError | undefined;
  try {
    await call(ctx);
  } catch (e) {
    if (!(e instanceof CryptoError)) throw e;
    error = e;
  }
  if (!error) throw new Error('expected a refusal');
  const records = await t.auditRecords(ctx.correlationId);
  expect(records).toHaveLength(1);
  const audit = records[0]! as unknown as Record<string, unknown>;
  expect(audit.resultType).toBe('Failure');
  expect(audit.operationName).toBe(operationName);
  expect((audit.properties as { errorCode?: string }).errorCode).toBe(error.code);
  expect(audit.callerIpAddress).toBe(ctx.callerIp);
  expect(audit.identity).toEqual({ oid: ctx.objectId, appid: ctx.appId, tid: ctx.tenantId });
  return { error, audit };
}

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

describe('bad input: typed errors, each audited once', () => {
  it('wrong digest length', async () => {
    const digest = randomBytes(20);
    const { error, audit } = await refused((ctx) => t.client.sign({ ctx, ref: rsa, algorithm: 'RS256', value: digest }), 'KeySign');
    expect(error.code).toBe('BadParameter');
    expect(error.grpcStatus).toBe(grpc.status.INVALID_ARGUMENT);
    expect(audit.resultSignature).toBe('INVALID_ARGUMENT');
    expect((audit.properties as { algorithm?: string }).algorithm).toBe('RS256');
    expect((audit.properties as { objectVersion?: string }).objectVersion).toBe(rsa.version);
    const text = JSON.stringify(audit);
    expect(text).not.toContain(digest.toString('hex'));
    expect(text).not.toContain(digest.toString('base64'));
  });

  it('unknown algorithm', async () => {
    const { error } = await refused((ctx) => t.client.sign({ ctx, ref: rsa, algorithm: 'RS999', value: randomBytes(32) }), 'KeySign');
    expect(error.code).toBe('BadParameter');
  });

  it('algorithm not allowed for the key type (ES256 on RSA, A256GCM on RSA)', async () => {
    const sign = await refused((ctx) => t.client.sign({ ctx, ref: rsa, algorithm: 'ES256', value: randomBytes(32) }), 'KeySign');
    expect(sign.error.code).toBe('KeyOperationNotAllowed');
    expect(sign.error.grpcStatus).toBe(grpc.status.FAILED_PRECONDITION);
    const enc = await refused((ctx) => t.client.encrypt({ ctx, ref: rsa, algorithm: 'A256GCM', value: randomBytes(16) }), 'KeyEncrypt');
    expect(enc.error.code).toBe('KeyOperationNotAllowed');
  });

  it('missing key_op', async () => {
    const { error } = await refused((ctx) => t.client.sign({ ctx, ref: ec, algorithm: 'ES256', value: randomBytes(32) }), 'KeySign');
    expect(error.code).toBe('KeyOperationNotAllowed');
  });

  it('disabled key, then enabled again', async () => {
    const ref = keyRef(tenant, 'toggle');
    await t.client.createKey({ ctx: t.ctx(), ref, kty: 'EC', attributes: { enabled: false } });
    const { error } = await refused((ctx) => t.client.sign({ ctx, ref, algorithm: 'ES256', value: randomBytes(32) }), 'KeySign');
    expect(error.code).toBe('KeyDisabled');
    await t.client.updateKey({ ctx: t.ctx(), ref, attributes: { enabled: true } });
    expect((await t.client.sign({ ctx: t.ctx(), ref, algorithm: 'ES256', value: randomBytes(32) })).result).toHaveLength(64);
  });

  it('nbf in the future / exp in the past refuse sign and encrypt but not verify and decrypt (as Azure)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const early = keyRef(tenant, 'not-yet');
    await t.client.createKey({ ctx: t.ctx(), ref: early, kty: 'EC', attributes: { enabled: true, notBefore: now + 3600 } });
    expect((await refused((ctx) => t.client.sign({ ctx, ref: early, algorithm: 'ES256', value: randomBytes(32) }), 'KeySign')).error.code).toBe('KeyNotYetValid');
    expect((await t.client.verify({ ctx: t.ctx(), ref: early, algorithm: 'ES256', value: randomBytes(32), signature: randomBytes(64) })).valid).toBe(false);
    const late = keyRef(tenant, 'expired');
    await t.client.createKey({ ctx: t.ctx(), ref: late, kty: 'oct', attributes: { enabled: true, notBefore: now - 7200, expires: now - 3600 } });
    expect((await refused((ctx) => t.client.encrypt({ ctx, ref: late, algorithm: 'A256GCM', value: randomBytes(16) }), 'KeyEncrypt')).error.code).toBe('KeyExpired');
    expect((await refused((ctx) => t.client.wrapKey({ ctx, ref: late, algorithm: 'A256KW', value: randomBytes(16) }), 'KeyWrap')).error.code).toBe('KeyExpired');
    // decrypt and unwrap still run (and answer on their merits) outside nbf/exp.
    const decrypt = t.client.decrypt({ ctx: t.ctx(), ref: late, algorithm: 'A256GCM', value: randomBytes(16), iv: randomBytes(12), tag: randomBytes(16) });
    await expect(decrypt).rejects.toMatchObject({ code: 'CiphertextInvalid' });
    await expect(t.client.unwrapKey({ ctx: t.ctx(), ref: late, algorithm: 'A256KW', value: randomBytes(24) })).rejects.toMatchObject({ code: 'CiphertextInvalid' });
  });

  it('oversized payload', async () => {
    const { error } = await refused((ctx) => t.client.encrypt({ ctx, ref: rsa, algorithm: 'RSA-OAEP', value: Buffer.alloc(64 * 1024 + 1) }), 'KeyEncrypt');
    expect(error.code).toBe('BadParameter');
    expect(error.message).toMatch(/larger than/);
  });

  it('unknown key, bad ref, bad random byte count', async () => {
    expect((await refused((ctx) => t.client.sign({ ctx, ref: keyRef(tenant, 'nope'), algorithm: 'RS256', value: randomBytes(32) }), 'KeySign')).error.code).toBe('KeyNotFound');
    expect((await refused((ctx) => t.client.getKey({ ctx, ref: { tenant, vault: 'bad/vault', collection: 'keys', name: 'x' } }), 'KeyGet')).error.code).toBe('BadParameter');
    expect((await refused((ctx) => t.client.getRandomBytes({ ctx, count: 129 }), 'RandomBytesGet')).error.code).toBe('BadParameter');
    expect((await t.client.getRandomBytes({ ctx: t.ctx(), count: 128 })).value).toHaveLength(128);
  });

  it('a success is audited once too, with the caller, the algorithm and the resolved version', async () => {
    const ctx = t.ctx('KeySign');
    await t.client.sign({ ctx, ref: { ...rsa, version: '' }, algorithm: 'PS256', value: sha256(Buffer.from('m')) });
    const [record, ...more] = await t.auditRecords(ctx.correlationId);
    expect(more).toHaveLength(0);
    expect(record).toMatchObject({
      operationName: 'KeySign',
      resultType: 'Success',
      resultSignature: 'OK',
      tenant,
      source: 'crypto',
      resourceId: `/tenants/${tenant}/vaults/vault1/keys/rsa/${rsa.version}`,
      properties: { algorithm: 'PS256', objectName: 'rsa', objectVersion: rsa.version, requestUri: ctx.requestUri, extra: { callerOperation: 'KeySign', hsm: 'false' } },
    });
  });
});

describe('data keys: AAD binding and crypto-shredding', () => {
  const secret = (name: string, version = 'v1') => ({ tenant, vault: 'vault1', collection: 'secrets', name, version });

  it('the data key opens only for its own object; a copied or bit-flipped wrapped key does not', async () => {
    const a = await t.client.generateDataKey({ ctx: t.ctx(), ref: secret('a') });
    const b = await t.client.generateDataKey({ ctx: t.ctx(), ref: secret('b') });
    expect(a.plaintext).toHaveLength(32);
    expect((await t.client.decryptDataKey({ ctx: t.ctx(), ref: secret('a'), keyId: a.keyId })).plaintext.equals(a.plaintext)).toBe(true);
    for (const other of [secret('b'), secret('a', 'v2'), { ...secret('a'), collection: 'certificates' }]) {
      await expect(t.client.decryptDataKey({ ctx: t.ctx(), ref: other, keyId: a.keyId })).rejects.toMatchObject({ code: 'CiphertextInvalid' });
    }
    // Copy a's wrapped key into b's row: b's identity does not authenticate it.
    await t.sql(`UPDATE ${t.schema}.data_keys SET wrapped = (SELECT wrapped FROM ${t.schema}.data_keys WHERE key_id = $1) WHERE key_id = $2`, [a.keyId, b.keyId]);
    await expect(t.client.decryptDataKey({ ctx: t.ctx(), ref: secret('b'), keyId: b.keyId })).rejects.toMatchObject({ code: 'CiphertextInvalid' });
    // Flip one bit of a's wrapped key.
    await t.sql(`UPDATE ${t.schema}.data_keys SET wrapped = set_byte(wrapped, length(wrapped) - 20, get_byte(wrapped, length(wrapped) - 20) # 1) WHERE key_id = $1`, [a.keyId]);
    await expect(t.client.decryptDataKey({ ctx: t.ctx(), ref: secret('a'), keyId: a.keyId })).rejects.toMatchObject({ code: 'CiphertextInvalid' });
  });

  it('destroying an object\'s data keys makes them unrecoverable (DataKeyNotFound), other objects untouched', async () => {
    const v1 = await t.client.generateDataKey({ ctx: t.ctx(), ref: secret('purge-me', 'v1') });
    const v2 = await t.client.generateDataKey({ ctx: t.ctx(), ref: secret('purge-me', 'v2') });
    const keep = await t.client.generateDataKey({ ctx: t.ctx(), ref: secret('keep-me', 'v1') });
    expect((await t.client.destroyDataKeys({ ctx: t.ctx(), ref: secret('purge-me', '') })).destroyed).toBe(2);
    for (const [k, v] of [[v1, 'v1'], [v2, 'v2']] as const) {
      const err = t.client.decryptDataKey({ ctx: t.ctx(), ref: secret('purge-me', v), keyId: k.keyId });
      await expect(err).rejects.toMatchObject({ code: 'DataKeyNotFound', grpcStatus: grpc.status.NOT_FOUND });
    }
    expect((await t.client.decryptDataKey({ ctx: t.ctx(), ref: secret('keep-me'), keyId: keep.keyId })).plaintext.equals(keep.plaintext)).toBe(true);
    const rows = await t.sql(`SELECT wrapped FROM ${t.schema}.data_keys WHERE name = 'purge-me'`);
    expect(rows.every((r) => r.wrapped === null)).toBe(true);
    expect((await t.client.destroyDataKeys({ ctx: t.ctx(), ref: secret('purge-me', ''), keyIds: [v1.keyId] })).destroyed).toBe(0);
  });

  it('data keys of different vaults are wrapped by different KEKs', async () => {
    await t.client.generateDataKey({ ctx: t.ctx(), ref: { ...secret('x'), vault: 'vault2' } });
    const keks = await t.sql(`SELECT vault, root_id FROM ${t.schema}.vault_keks WHERE tenant = $1 ORDER BY vault`, [tenant]);
    expect(keks.map((k) => k.vault)).toEqual(['vault1', 'vault2']);
    expect(String(keks[0]!.root_id)).toMatch(/^dev-[0-9a-f]{16}$/);
  });
});

describe('backup blobs', () => {
  it('open with the same purpose; another purpose or a flipped bit is CiphertextInvalid', async () => {
    const payload = randomBytes(5000);
    const { blob } = await t.client.sealBackup({ ctx: t.ctx(), purpose: 'keyledger/key-backup/v1', payload });
    expect(blob.subarray(0, 4).toString()).toBe('KLBK');
    expect(blob.includes(payload.subarray(0, 32))).toBe(false);
    expect((await t.client.openBackup({ ctx: t.ctx(), purpose: 'keyledger/key-backup/v1', blob })).payload.equals(payload)).toBe(true);
    await expect(t.client.openBackup({ ctx: t.ctx(), purpose: 'keyledger/secret-backup/v1', blob })).rejects.toMatchObject({ code: 'CiphertextInvalid' });
    const bad = Buffer.from(blob);
    bad[bad.length - 1] ^= 0x80;
    await expect(t.client.openBackup({ ctx: t.ctx(), purpose: 'keyledger/key-backup/v1', blob: bad })).rejects.toMatchObject({ code: 'CiphertextInvalid' });
  });

  it('a deployment with another root cannot open it', async () => {
    const { blob } = await t.client.sealBackup({ ctx: t.ctx(), purpose: 'p', payload: Buffer.from('x') });
    const other = await startTestCrypto({ root: 'dev' });
    try {
      await expect(other.client.openBackup({ ctx: other.ctx(), purpose: 'p', blob })).rejects.toMatchObject({ code: 'CiphertextInvalid' });
    } finally {
      await other.close();
    }
  });
});

describe('fail-closed audit', () => {
  const block = () =>
    t.sql(`CREATE OR REPLACE FUNCTION ${t.schema}.audit_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$;
           CREATE TRIGGER audit_down BEFORE INSERT ON ${t.schema}.outbox FOR EACH ROW EXECUTE FUNCTION ${t.schema}.audit_down()`);
  const unblock = () => t.sql(`DROP TRIGGER IF EXISTS audit_down ON ${t.schema}.outbox`);

  it('with the audit write failing, operations fail with AuditUnavailable and no result leaves; afterwards they work', async () => {
    const dataKeysBefore = (await t.sql(`SELECT count(*)::int AS n FROM ${t.schema}.data_keys`))[0]!.n;
    const newKey = keyRef(tenant, 'never-created');
    await block();
    try {
      for (const call of [
        () => t.client.sign({ ctx: t.ctx(), ref: rsa, algorithm: 'RS256', value: randomBytes(32) }),
        () => t.client.generateDataKey({ ctx: t.ctx(), ref: { tenant, vault: 'vault1', collection: 'secrets', name: 'fc', version: 'v1' } }),
        () => t.client.createKey({ ctx: t.ctx(), ref: newKey, kty: 'EC' }),
        () => t.client.getRandomBytes({ ctx: t.ctx(), count: 16 }),
        () => t.client.sign({ ctx: t.ctx(), ref: rsa, algorithm: 'RS256', value: randomBytes(3) }),
      ]) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(CryptoError);
        expect(err).toMatchObject({ code: 'AuditUnavailable', grpcStatus: grpc.status.UNAVAILABLE });
      }
    } finally {
      await unblock();
    }
    // Nothing of the refused calls remains: no data key handed out, no key created.
    expect((await t.sql(`SELECT count(*)::int AS n FROM ${t.schema}.data_keys`))[0]!.n).toBe(dataKeysBefore);
    await expect(t.client.getKey({ ctx: t.ctx(), ref: newKey })).rejects.toMatchObject({ code: 'KeyNotFound' });
    expect((await t.client.sign({ ctx: t.ctx(), ref: rsa, algorithm: 'RS256', value: randomBytes(32) })).result).toHaveLength(256);
  });
});

describe('mutual TLS', () => {
  it('a client without a certificate is not served', async () => {
    const ca = readFileSync(join(keyledgerHome(), 'tls', 'ca.crt'));
    const anonymous = new grpc.Client(t.service.grpcAddress, grpc.credentials.createSsl(ca));
    try {
      const outcome = await new Promise<grpc.ServiceError | null>((resolve) => {
        anonymous.makeUnaryRequest(
          '/keyledger.crypto.v1.Crypto/Health',
          () => Buffer.alloc(0),
          (b: Buffer) => b,
          {},
          new grpc.Metadata(),
          { deadline: Date.now() + 5_000 },
          (err) => resolve(err),
        );
      });
      expect(outcome?.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      anonymous.close();
    }
    expect((await t.client.health()).sealed).toBe(false);
  });
});
