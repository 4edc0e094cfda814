/**
 * The running crypto service (started from dist/ by the e2e global setup, or already up):
 * gRPC with mutual TLS on CRYPTO_GRPC_ADDRESS (default localhost:9445), the HTTPS health
 * endpoint with its root component, software and HSM keys end to end, and the usage trail
 * on Kafka: audit records on keyledger.audit.records.v1 and key events (without material)
 * on keyledger.crypto.events.v1, both through the outbox.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes, randomUUID, verify as nodeVerify, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { TOPICS } from '#libs/contracts';
import { CryptoClient, type CallContext, type KeyVersion } from '#libs/crypto-client';
import { collectTopic, testKafka, waitFor, type TopicCollector } from '#libs/testing';
import { stackEnv } from '../../support/stack-env.js';

const address = process.env.CRYPTO_GRPC_ADDRESS ?? 'localhost:9445';
const httpsPort = Number(process.env.CRYPTO_PORT ?? 9444);
const tenant = `tenant-e2e-${randomUUID()}`;
const vault = 'e2e';
let client: CryptoClient;
let audit: TopicCollector;
let events: TopicCollector;
const created: { name: string }[] = [];

const ctx = (operationName: string): CallContext & { correlationId: string } => ({
  tenantId: tenant,
  objectId: 'oid-e2e',
  appId: 'app-e2e',
  callerIp: '198.51.100.7',
  correlationId: `e2e-${randomUUID()}`,
  requestUri: `https://${vault}.vault.localhost:8443/keys/x/${operationName}`,
  operationName,
});

const ref = (name: string, version = randomBytes(16).toString('hex')) => ({ tenant, vault, collection: 'keys', name, version });

function publicKey(v: KeyVersion) {
  return v.key.kty.startsWith('RSA')
    ? createPublicKey({ key: { kty: 'RSA', n: v.key.n.toString('base64url'), e: v.key.e.toString('base64url') }, format: 'jwk' })
    : createPublicKey({ key: { kty: 'EC', crv: v.key.crv, x: v.key.x.toString('base64url'), y: v.key.y.toString('base64url') }, format: 'jwk' });
}

beforeAll(async () => {
  client = CryptoClient.forDevCa({ address });
  const kafka = testKafka('keyledger-crypto-e2e');
  audit = await collectTopic(kafka, TOPICS.auditRecords, undefined, { from: 'end' });
  events = await collectTopic(kafka, TOPICS.cryptoEvents, undefined, { from: 'end' });
});

afterAll(async () => {
  for (const { name } of created) await client.destroyKey({ ctx: ctx('KeyPurge'), ref: ref(name, '') }).catch(() => undefined);
  client?.close();
  await audit?.stop();
  await events?.stop();
});

describe('crypto service (running)', () => {
  it('is unsealed: Health RPC and the HTTPS root health component agree', async () => {
    const h = await client.health();
    expect(h.sealed).toBe(false);
    expect(h.root).not.toBe('');
    const body = await new Promise<{ components: Record<string, { status: string; detail?: string }> }>((resolve, reject) => {
      https
        .get({ host: 'localhost', port: httpsPort, path: '/health', ca: readFileSync(stackEnv.caFile) }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(JSON.parse(text) as never));
        })
        .on('error', reject);
    });
    expect(body.components.root).toMatchObject({ status: 'up' });
    expect(body.components.root?.detail).toContain(h.root);
  });

  it.each([
    ['EC', 'ES256'],
    ['RSA-HSM', 'PS256'],
  ] as const)('%s: create, sign, verify independently; audit record and key event reach Kafka', async (kty, algorithm) => {
    const name = `e2e-${kty.toLowerCase()}-${randomBytes(3).toString('hex')}`;
    created.push({ name });
    const r = ref(name);
    const { key } = await client.createKey({ ctx: ctx('KeyCreate'), ref: r, kty });
    const message = randomBytes(64);
    const signCtx = ctx('KeySign');
    const sig = await client.sign({ ctx: signCtx, ref: { ...r, version: '' }, algorithm, value: createHash('sha256').update(message).digest() });
    const ok = algorithm === 'ES256'
      ? nodeVerify('sha256', message, { key: publicKey(key), dsaEncoding: 'ieee-p1363' }, sig.result)
      : nodeVerify('sha256', message, { key: publicKey(key), padding: 6, saltLength: 32 }, sig.result);
    expect(ok).toBe(true);

    const record = await waitFor(
      () => audit.messages.map((m) => JSON.parse(m.value ?? '{}') as { correlationId?: string; data?: Record<string, unknown> }).find((e) => e.correlationId === signCtx.correlationId),
      { what: 'the KeySign audit record on Kafka', timeoutMs: 30_000 },
    );
    expect(record.data).toMatchObject({ operationName: 'KeySign', resultType: 'Success', tenant, source: 'crypto', properties: { algorithm, objectName: name, objectVersion: r.version } });

    const event = await waitFor(
      () => events.messages.map((m) => JSON.parse(m.value ?? '{}') as { type?: string; subject?: string; data?: Record<string, unknown> }).find((e) => e.subject === `key-${tenant}/${vault}/${name}`),
      { what: 'the KeyCreated event on Kafka', timeoutMs: 30_000 },
    );
    expect(event.type).toBe('KeyCreated');
    expect(event.data).toMatchObject({ kty, version: r.version, hsm: kty === 'RSA-HSM' });
    for (const f of ['d', 'p', 'q', 'k', 'wrapped']) expect(Object.keys(event.data ?? {})).not.toContain(f);
  });

  it('data keys round-trip for a secret version and are shredded on purge', async () => {
    const secret = { tenant, vault, collection: 'secrets', name: `s-${randomBytes(3).toString('hex')}`, version: randomBytes(16).toString('hex') };
    const dk = await client.generateDataKey({ ctx: ctx('SecretSet'), ref: secret });
    expect((await client.decryptDataKey({ ctx: ctx('SecretGet'), ref: secret, keyId: dk.keyId })).plaintext.equals(dk.plaintext)).toBe(true);
    expect((await client.destroyDataKeys({ ctx: ctx('SecretPurge'), ref: { ...secret, version: '' } })).destroyed).toBe(1);
    await expect(client.decryptDataKey({ ctx: ctx('SecretGet'), ref: secret, keyId: dk.keyId })).rejects.toMatchObject({ code: 'DataKeyNotFound' });
  });
});
