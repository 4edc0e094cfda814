import { constants, randomUUID, createDecipheriv, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { KeyClient } from '@azure/keyvault-keys';
import type { ClientSecretCredential } from '@azure/identity';
import { compactVerify, decodeProtectedHeader } from 'jose';
import {
  accessToken,
  assignRole,
  auditRecords,
  bootstrap,
  CA,
  closeDb,
  createServicePrincipal,
  createVault,
  db,
  credential,
  dropVault,
  eventually,
  IDENTITY_RESOURCE,
  installLocalhostDns,
  raw,
  RecordingHttpClient,
  suffix,
  vaultUrl,
} from './vault-e2e.support.js';

jest.setTimeout(120_000);

/** The attestation authority identity runs for development (the vault trusts it by default). */
const AUTHORITY = `${bootstrap.authorityHost}/attestation/${bootstrap.tenantId}`;

/** The TEE: its RSA key pair; the public part goes into the attestation token as MAA puts it. */
const tee = generateKeyPairSync('rsa', { modulusLength: 2048 });
const teeJwk = { ...tee.publicKey.export({ format: 'jwk' }), kid: 'TpmEphemeralEncryptionKey', key_ops: ['encrypt'] };

async function attestationToken(claims: Record<string, unknown>): Promise<string> {
  const token = await accessToken(IDENTITY_RESOURCE);
  const res = await raw(`${AUTHORITY}/token`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(claims) });
  if (res.status !== 200) throw new Error(`attestation token not issued: ${res.status} ${res.text}`);
  return (res.json as { token: string }).token;
}

const POLICY = {
  version: '1.0.0',
  anyOf: [{ authority: AUTHORITY, allOf: [{ claim: 'x-ms-attestation-type', equals: 'sevsnpvm' }, { claim: 'x-ms-compliance-status', equals: 'azure-compliant-cvm' }] }],
};
const releasePolicy = { contentType: 'application/json; charset=utf-8', immutable: false, encodedPolicy: new Uint8Array(Buffer.from(JSON.stringify(POLICY))) };

const OAEP: Record<string, string> = { CKM_RSA_AES_KEY_WRAP: 'sha1', RSA_AES_KEY_WRAP_256: 'sha256', RSA_AES_KEY_WRAP_384: 'sha384' };

/** What the TEE does with the release: RSA-OAEP-unwrap the ephemeral AES key, then AES-KWP-unwrap the PKCS#8 key. */
function unwrapInTee(blob: Buffer, enc: string): Buffer {
  const ephemeral = privateDecrypt({ key: tee.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP[enc] }, blob.subarray(0, 256));
  const d = createDecipheriv('id-aes256-wrap-pad', ephemeral, Buffer.from('a65959a6', 'hex'));
  return Buffer.concat([d.update(blob.subarray(256)), d.final()]);
}

type ReleaseToken = {
  request: { 'api-version': string; enc: string; kid: string; nonce?: string };
  response: { key: { key: { kid: string; kty: string; n: string; e: string; key_hsm: string }; attributes: { exportable: boolean }; release_policy?: { data: string } } };
};

/** Verifies the release token's chain against the development CA and its signature against the leaf. */
async function verifyReleaseToken(value: string): Promise<ReleaseToken> {
  const header = decodeProtectedHeader(value);
  const leaf = new X509Certificate(Buffer.from(header.x5c?.[0] ?? '', 'base64'));
  expect(leaf.verify(new X509Certificate(CA).publicKey)).toBe(true);
  const { payload } = await compactVerify(value, leaf.publicKey);
  return JSON.parse(Buffer.from(payload).toString('utf8')) as ReleaseToken;
}

function statusOf(err: unknown): { status?: number; code?: string; message?: string } {
  const e = err as { statusCode?: number; code?: string; message?: string };
  return { status: e.statusCode, code: e.code, message: e.message };
}

describe('secure key release through KeyClient.releaseKey (identity development attestation authority)', () => {
  let vault: string;
  let client: KeyClient;
  let recorder: RecordingHttpClient;
  const keyClient = (cred: ClientSecretCredential = credential(), httpClient?: RecordingHttpClient): KeyClient =>
    new KeyClient(vaultUrl(vault), cred, { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 }, ...(httpClient ? { httpClient } : {}) });

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-skr');
    recorder = new RecordingHttpClient();
    client = keyClient(credential(), recorder);
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  it('releases an exportable RSA key to the attested TEE when the claims satisfy the policy: the TEE unwraps it and its public key is the key\'s', async () => {
    const name = `skr-${suffix()}`;
    const key = await client.createRsaKey(name, { keySize: 2048, exportable: true, releasePolicy });
    expect(key.properties.exportable).toBe(true);
    const target = await attestationToken({ 'x-ms-attestation-type': 'sevsnpvm', 'x-ms-compliance-status': 'azure-compliant-cvm', 'x-ms-runtime': { keys: [teeJwk] } });
    recorder.take();
    const result = await client.releaseKey(name, target, { version: key.properties.version!, algorithm: 'RSA_AES_KEY_WRAP_256', nonce: 'n-123' });
    const [exchange] = recorder.take().filter((e) => e.url.includes('/release'));
    expect(exchange?.status).toBe(200);

    const token = await verifyReleaseToken(result.value);
    expect(token.request).toMatchObject({ enc: 'RSA_AES_KEY_WRAP_256', kid: key.id, nonce: 'n-123' });
    expect(token.response.key.key.kid).toBe(key.id);
    expect(token.response.key.attributes.exportable).toBe(true);
    const keyHsm = JSON.parse(Buffer.from(token.response.key.key.key_hsm, 'base64url').toString('utf8')) as { header: { kid: string; enc: string }; ciphertext: string };
    expect(keyHsm.header).toMatchObject({ kid: 'TpmEphemeralEncryptionKey', enc: 'RSA_AES_KEY_WRAP_256' });
    const pkcs8 = unwrapInTee(Buffer.from(keyHsm.ciphertext, 'base64url'), 'RSA_AES_KEY_WRAP_256');
    const released = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
    expect(released.n).toBe(Buffer.from(key.key!.n!).toString('base64url'));
    expect(released.e).toBe(Buffer.from(key.key!.e!).toString('base64url'));
    expect(token.response.key.key.n).toBe(released.n);

    // One audit record, KeyRelease, with neither the attestation token, the wrapped key nor the answer.
    const records = await eventually(async () => {
      const r = await auditRecords([exchange!.requestId]);
      return r.length > 0 ? r : undefined;
    });
    expect(records).toHaveLength(1);
    const record = JSON.stringify(records);
    expect(records?.[0]).toMatchObject({ operationName: 'KeyRelease', resultSignature: '200' });
    for (const secret of [target, result.value, keyHsm.ciphertext, target.split('.')[2]!]) expect(record.includes(secret)).toBe(false);
  });

  it('releases the latest version with the default CKM_RSA_AES_KEY_WRAP (RSA-OAEP with SHA-1)', async () => {
    const name = `skr-latest-${suffix()}`;
    const key = await client.createRsaKey(name, { exportable: true, releasePolicy });
    const target = await attestationToken({ 'x-ms-attestation-type': 'sevsnpvm', 'x-ms-compliance-status': 'azure-compliant-cvm', 'x-ms-runtime': { keys: [teeJwk] } });
    const token = await verifyReleaseToken((await client.releaseKey(name, target)).value);
    expect(token.request.enc).toBe('CKM_RSA_AES_KEY_WRAP');
    const keyHsm = JSON.parse(Buffer.from(token.response.key.key.key_hsm, 'base64url').toString('utf8')) as { ciphertext: string };
    const released = createPublicKey(createPrivateKey({ key: unwrapInTee(Buffer.from(keyHsm.ciphertext, 'base64url'), 'CKM_RSA_AES_KEY_WRAP'), format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
    expect(released.n).toBe(Buffer.from(key.key!.n!).toString('base64url'));
  });

  it('releases an EC key as PKCS#8, and refuses a disabled key with 403 KeyDisabled', async () => {
    const name = `skr-ec-${suffix()}`;
    const key = await client.createEcKey(name, { curve: 'P-256', exportable: true, releasePolicy });
    const target = await attestationToken({ 'x-ms-attestation-type': 'sevsnpvm', 'x-ms-compliance-status': 'azure-compliant-cvm', 'x-ms-runtime': { keys: [teeJwk] } });
    const token = await verifyReleaseToken((await client.releaseKey(name, target, { algorithm: 'RSA_AES_KEY_WRAP_384' })).value);
    const keyHsm = JSON.parse(Buffer.from(token.response.key.key.key_hsm, 'base64url').toString('utf8')) as { ciphertext: string };
    const released = createPublicKey(createPrivateKey({ key: unwrapInTee(Buffer.from(keyHsm.ciphertext, 'base64url'), 'RSA_AES_KEY_WRAP_384'), format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
    expect(released.x).toBe(Buffer.from(key.key!.x!).toString('base64url'));
    expect(released.y).toBe(Buffer.from(key.key!.y!).toString('base64url'));

    await client.updateKeyProperties(name, key.properties.version!, { enabled: false });
    const err = await client.releaseKey(name, target).then(() => undefined, (e: unknown) => e);
    expect(statusOf(err)).toMatchObject({ status: 403, code: 'Forbidden', message: 'Operation release is not allowed on a disabled key.' });
  });

  it('refuses with 403 AccessDenied when the attested claims do not satisfy the policy', async () => {
    const name = `skr-deny-${suffix()}`;
    await client.createRsaKey(name, { exportable: true, releasePolicy });
    const target = await attestationToken({ 'x-ms-attestation-type': 'sgx', 'x-ms-compliance-status': 'azure-compliant-cvm', 'x-ms-runtime': { keys: [teeJwk] } });
    const err = await client.releaseKey(name, target).then(() => undefined, (e: unknown) => e);
    expect(statusOf(err)).toMatchObject({ status: 403, code: 'Forbidden' });
  });

  it('refuses a target it cannot verify with Azure\'s recorded 403 (even for an unknown key), and a forged token', async () => {
    const err = await client.releaseKey(`absent-${suffix()}`, 'anything').then(() => undefined, (e: unknown) => e);
    expect(statusOf(err)).toMatchObject({ status: 403, code: 'Forbidden', message: 'Target environment attestation statement cannot be verified.' });
    const name = `skr-forged-${suffix()}`;
    await client.createRsaKey(name, { exportable: true, releasePolicy });
    const good = await attestationToken({ 'x-ms-attestation-type': 'sevsnpvm', 'x-ms-compliance-status': 'azure-compliant-cvm', 'x-ms-runtime': { keys: [teeJwk] } });
    const [h, p] = good.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ ...(JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as object), 'x-ms-attestation-type': 'sevsnpvm-forged' })).toString('base64url');
    const forged = await client.releaseKey(name, `${h}.${forgedPayload}.${good.split('.')[2]}`).then(() => undefined, (e: unknown) => e);
    expect(statusOf(forged)).toMatchObject({ status: 403, code: 'Forbidden' });
  });

  it('answers 400 for an exportable key without a policy (at create, AKV.SKR.1004) and for releasing a non-exportable key', async () => {
    const noPolicy = await client.createRsaKey(`skr-nopolicy-${suffix()}`, { exportable: true }).then(() => undefined, (e: unknown) => e);
    expect(statusOf(noPolicy)).toMatchObject({ status: 400, code: 'BadParameter' });
    const name = `skr-plain-${suffix()}`;
    await client.createRsaKey(name);
    const target = await attestationToken({ 'x-ms-attestation-type': 'sevsnpvm', 'x-ms-compliance-status': 'azure-compliant-cvm', 'x-ms-runtime': { keys: [teeJwk] } });
    const err = await client.releaseKey(name, target).then(() => undefined, (e: unknown) => e);
    expect(statusOf(err)).toMatchObject({ status: 400, code: 'BadParameter' });
  });

  it('needs keys/release/action: Key Vault Crypto User is refused, Key Vault Crypto Service Release User releases', async () => {
    const name = `skr-rbac-${suffix()}`;
    await client.createRsaKey(name, { exportable: true, releasePolicy });
    const user = await createServicePrincipal(`skr-user-${suffix()}`);
    const releaser = await createServicePrincipal(`skr-releaser-${suffix()}`);
    await assignRole(user.objectId, 'Key Vault Crypto User', `/vaults/${vault}`);
    await assignRole(releaser.objectId, 'Key Vault Crypto Service Release User', `/vaults/${vault}/keys/${name}`);
    const target = await attestationToken({ 'x-ms-attestation-type': 'sevsnpvm', 'x-ms-compliance-status': 'azure-compliant-cvm', 'x-ms-runtime': { keys: [teeJwk] } });
    const released = await eventually(async () => keyClient(credential(releaser.credentials)).releaseKey(name, target).catch(() => undefined), 30_000, 200);
    expect(typeof released?.value).toBe('string');
    // The user's role is visible by now (assigned before the releaser's); Crypto User has no release.
    const denied = await keyClient(credential(user.credentials)).releaseKey(name, target).then(() => undefined, (e: unknown) => e);
    expect(statusOf(denied)).toMatchObject({ status: 403, code: 'Forbidden' });
  });
});

describe("identity's development attestation authority", () => {
  it('publishes OIDC metadata and keys, and issues tokens only to authenticated principals', async () => {
    installLocalhostDns();
    const meta = await raw(`${AUTHORITY}/.well-known/openid-configuration`);
    expect(meta.status).toBe(200);
    expect(meta.json).toMatchObject({ issuer: AUTHORITY, jwks_uri: `${AUTHORITY}/certs` });
    const keys = await raw(`${AUTHORITY}/certs`);
    expect((keys.json as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    const anonymous = await raw(`${AUTHORITY}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(anonymous.status).toBe(401);
    const token = await accessToken(IDENTITY_RESOURCE);
    const reserved = await raw(`${AUTHORITY}/token`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ iss: 'https://evil' }) });
    expect(reserved.status).toBe(400);
  });

  it('records every attestation token request once, through the gate, without the token or its claims', async () => {
    const token = await accessToken(IDENTITY_RESOURCE);
    const correlation = randomUUID();
    const issued = await raw(`${AUTHORITY}/token`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-ms-client-request-id': correlation }, body: JSON.stringify({ 'x-ms-attestation-type': 'sevsnpvm', marker: `m-${correlation}` }) });
    expect(issued.status).toBe(200);
    const anonymousCorrelation = randomUUID();
    expect((await raw(`${AUTHORITY}/token`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ms-client-request-id': anonymousCorrelation }, body: '{}' })).status).toBe(401);
    const rows = async (c: string) =>
      (await db().query<{ data: { operationName: string; resultSignature: string } }>(`SELECT payload->'data' AS data FROM identity.outbox WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->>'correlationId' = $1`, [c])).rows.map((r) => r.data);
    const ok = await rows(correlation);
    expect(ok).toEqual([expect.objectContaining({ operationName: 'AttestationTokenIssue', resultSignature: '200' })]);
    expect(JSON.stringify(ok)).not.toContain((issued.json as { token: string }).token.split('.')[2]);
    expect(JSON.stringify(ok)).not.toContain(`m-${correlation}`);
    expect(await rows(anonymousCorrelation)).toEqual([expect.objectContaining({ operationName: 'AttestationTokenIssue', resultSignature: '401' })]);
  });
});
