/**
 * Azure's cryptographic operations on keys over the vault's REST API, driven by the official
 * `@azure/keyvault-keys` 4.10 `CryptographyClient` against `https://{vault}.vault.localhost:8443`
 * with challenge verification on, and by raw HTTPS for the refusals. Keys are created over REST
 * (`POST /keys/{name}/create`); the SDK client is given a key id, or the key as a `KeyVaultKey`
 * (its public JWK), so it does what it does against Azure:
 * RSA-OAEP/RSA1_5 encrypt and wrap locally, everything else remotely. Every signature is checked
 * with Node's crypto from the public JWK.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { constants, createHash, createPublicKey, publicEncrypt, randomBytes, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CryptographyClient, KeyClient, type KeyVaultKey, type SignatureAlgorithm } from '@azure/keyvault-keys';
import {
  accessToken,
  assignRole,
  auditRecords,
  bootstrap,
  CA,
  closeDb,
  createServicePrincipal,
  createVault,
  credential,
  db,
  dropVault,
  eventually,
  HOME,
  identityAdmin,
  installLocalhostDns,
  raw,
  suffix,
  VAULT_RESOURCE,
  vaultUrl,
  type RawResponse,
  type ServicePrincipal,
} from './vault-e2e.support.js';

jest.setTimeout(120_000);

type ErrorBody = { error: { code: string; message: string; innererror?: { code: string } } };
const errorOf = (r: RawResponse): ErrorBody['error'] => (r.json as ErrorBody).error;
const b64u = (b: Buffer): string => b.toString('base64url');
const version = (): string => randomBytes(16).toString('hex');

const HASH_OF: Record<string, 'sha256' | 'sha384' | 'sha512'> = {
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES256K: 'sha256', ES384: 'sha384', ES512: 'sha512',
};
const NODE_CRV: Record<string, string> = { 'P-256': 'P-256', 'P-256K': 'secp256k1', 'P-384': 'P-384', 'P-521': 'P-521' };

/** What the spec needs of a created key version (the REST answer, bytes decoded). */
type KeyVersion = {
  readonly ref: { readonly name: string; readonly version: string };
  readonly key: { readonly kty: string; readonly keyOps: string[]; readonly n: Buffer; readonly e: Buffer; readonly crv: string; readonly x: Buffer; readonly y: Buffer };
  readonly attributes: { readonly enabled: boolean };
  readonly created: number;
  readonly updated: number;
};

function publicKeyOf(v: KeyVersion): KeyObject {
  return v.key.kty.startsWith('RSA')
    ? createPublicKey({ key: { kty: 'RSA', n: b64u(v.key.n), e: b64u(v.key.e) }, format: 'jwk' })
    : createPublicKey({ key: { kty: 'EC', crv: NODE_CRV[v.key.crv] ?? v.key.crv, x: b64u(v.key.x), y: b64u(v.key.y) }, format: 'jwk' });
}

/** Node's own verification of an Azure signature (raw r‖s for ECDSA, PSS salt = digest length). */
function verifiedByNode(alg: string, message: Buffer, signature: Uint8Array, key: KeyObject): boolean {
  const hash = HASH_OF[alg]!;
  if (alg.startsWith('ES')) return nodeVerify(hash, message, { key, dsaEncoding: 'ieee-p1363' }, signature);
  if (alg.startsWith('PS')) return nodeVerify(hash, message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
  return nodeVerify(hash, message, key, signature);
}

describe('key operations over the vault REST API (CryptographyClient, raw HTTPS)', () => {
  let vault: string;
  let base: string;
  let token: string;
  const names: string[] = [];

  /** A key created over REST as a client would: `name` gets a new version. */
  async function createKey(name: string, kty: string, options: { crv?: string; keyOps?: string[]; enabled?: boolean; notBefore?: number; expires?: number } = {}): Promise<KeyVersion> {
    if (!names.includes(name)) names.push(name);
    const res = await post(`/keys/${name}/create`, {
      kty,
      ...(options.crv ? { crv: options.crv } : {}),
      ...(options.keyOps ? { key_ops: options.keyOps } : {}),
      attributes: { enabled: options.enabled ?? true, ...(options.notBefore ? { nbf: options.notBefore } : {}), ...(options.expires ? { exp: options.expires } : {}) },
    });
    if (res.status !== 200) throw new Error(`key ${name} not created: ${res.status} ${res.text}`);
    const { key, attributes } = res.json as { key: Record<string, unknown> & { kid: string; kty: string; key_ops: string[] }; attributes: { enabled: boolean; created: number; updated: number } };
    const bytes = (k: string): Buffer => Buffer.from(typeof key[k] === 'string' ? (key[k] as string) : '', 'base64url');
    const v = new URL(key.kid).pathname.split('/')[3] ?? '';
    return {
      ref: { name, version: v },
      key: { kty: key.kty, keyOps: key.key_ops, n: bytes('n'), e: bytes('e'), crv: typeof key.crv === 'string' ? key.crv : '', x: bytes('x'), y: bytes('y') },
      attributes: { enabled: attributes.enabled },
      created: attributes.created,
      updated: attributes.updated,
    };
  }

  const kidOf = (v: KeyVersion, withVersion = true): string => `${base}/keys/${v.ref.name}${withVersion ? `/${v.ref.version}` : ''}`;

  /** The SDK's view of a key (what `KeyClient.getKey` returns), from the crypto service's public parts. */
  function keyVaultKey(v: KeyVersion, withVersion = true): KeyVaultKey {
    const id = kidOf(v, withVersion);
    const rsa = v.key.kty.startsWith('RSA');
    return {
      id,
      name: v.ref.name,
      keyType: v.key.kty as KeyVaultKey['keyType'],
      keyOperations: v.key.keyOps as KeyVaultKey['keyOperations'],
      key: {
        kid: id,
        kty: v.key.kty as NonNullable<KeyVaultKey['keyType']>,
        keyOps: v.key.keyOps as NonNullable<KeyVaultKey['keyOperations']>,
        ...(rsa ? { n: new Uint8Array(v.key.n), e: new Uint8Array(v.key.e) } : { crv: v.key.crv as 'P-256', x: new Uint8Array(v.key.x), y: new Uint8Array(v.key.y) }),
      },
      properties: { id, name: v.ref.name, vaultUrl: base, version: v.ref.version, enabled: v.attributes.enabled, createdOn: new Date(v.created * 1000), updatedOn: new Date(v.updated * 1000) },
    };
  }

  const cryptoClient = (key: KeyVaultKey | string, p?: ServicePrincipal): CryptographyClient =>
    new CryptographyClient(key, credential(p?.credentials ?? bootstrap), { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 } });

  const post = (path: string, body: unknown, bearer = token): Promise<RawResponse> =>
    raw(`${base}${path}?api-version=7.6`, { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-kops');
    base = vaultUrl(vault);
    token = await accessToken(VAULT_RESOURCE);
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  describe('sign and verify: every algorithm, software and HSM keys, checked by Node', () => {
    const cases: Array<{ kty: string; crv?: string; algs: SignatureAlgorithm[] }> = [
      { kty: 'RSA', crv: '', algs: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] },
      { kty: 'RSA-HSM', crv: '', algs: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] },
      { kty: 'EC', crv: 'P-256', algs: ['ES256'] },
      { kty: 'EC', crv: 'P-256K', algs: ['ES256K'] },
      { kty: 'EC', crv: 'P-384', algs: ['ES384'] },
      { kty: 'EC', crv: 'P-521', algs: ['ES512'] },
      { kty: 'EC-HSM', crv: 'P-256', algs: ['ES256'] },
      { kty: 'EC-HSM', crv: 'P-384', algs: ['ES384'] },
      { kty: 'EC-HSM', crv: 'P-521', algs: ['ES512'] },
    ];

    it.each(cases)('$kty $crv: $algs', async ({ kty, crv, algs }) => {
      const key = await createKey(`sig-${kty.toLowerCase()}-${(crv ?? 'rsa').toLowerCase()}-${suffix()}`, kty, crv ? { crv } : {});
      const client = cryptoClient(keyVaultKey(key));
      const pub = publicKeyOf(key);
      for (const alg of algs) {
        const message = randomBytes(100);
        const digest = createHash(HASH_OF[alg]!).update(message).digest();
        const signed = await client.sign(alg, digest);
        expect([alg, signed.keyID]).toEqual([alg, kidOf(key)]);
        expect([alg, verifiedByNode(alg, message, signed.result, pub)]).toEqual([alg, true]);
        // verify (over a digest) is remote in the SDK; a tampered signature is not an error, just false.
        expect((await client.verify(alg, digest, signed.result)).result).toBe(true);
        const tampered = Buffer.from(signed.result);
        tampered[tampered.length - 1]! ^= 1;
        expect((await client.verify(alg, digest, tampered)).result).toBe(false);
        // signData hashes locally and signs remotely.
        const signedData = await client.signData(alg, message);
        expect(verifiedByNode(alg, message, signedData.result, pub)).toBe(true);
      }
    });
  });

  describe('encrypt / decrypt and wrap / unwrap with RSA-OAEP and RSA-OAEP-256', () => {
    it.each(['RSA', 'RSA-HSM'])('%s: SDK, Node and raw REST ciphertexts all decrypt remotely', async (kty) => {
      const key = await createKey(`enc-${kty.toLowerCase()}-${suffix()}`, kty);
      const client = cryptoClient(keyVaultKey(key));
      const pub = publicKeyOf(key);
      for (const alg of ['RSA-OAEP', 'RSA-OAEP-256'] as const) {
        const plaintext = randomBytes(48);
        // The SDK: RSA-OAEP locally with the public key, RSA-OAEP-256 remotely.
        const sdk = await client.encrypt({ algorithm: alg, plaintext });
        expect(Buffer.from((await client.decrypt({ algorithm: alg, ciphertext: sdk.result })).result)).toEqual(plaintext);
        // Encrypted locally by Node with the public JWK, decrypted by the vault.
        const local = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg === 'RSA-OAEP' ? 'sha1' : 'sha256' }, plaintext);
        expect(Buffer.from((await client.decrypt({ algorithm: alg, ciphertext: local })).result)).toEqual(plaintext);
        // Encrypted by the vault (raw REST), decrypted by the vault through the SDK.
        const remote = await post(`/keys/${key.ref.name}/${key.ref.version}/encrypt`, { alg, value: b64u(plaintext) });
        expect(remote.status).toBe(200);
        expect(remote.json).toEqual({ kid: kidOf(key), value: expect.any(String) });
        const ciphertext = Buffer.from((remote.json as { value: string }).value, 'base64url');
        expect(ciphertext.length).toBe(256);
        expect(Buffer.from((await client.decrypt({ algorithm: alg, ciphertext })).result)).toEqual(plaintext);

        const cek = randomBytes(32);
        const wrapped = await client.wrapKey(alg, cek);
        expect(Buffer.from((await client.unwrapKey(alg, wrapped.result)).result)).toEqual(cek);
        const localWrap = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg === 'RSA-OAEP' ? 'sha1' : 'sha256' }, cek);
        expect(Buffer.from((await client.unwrapKey(alg, localWrap)).result)).toEqual(cek);
        const remoteWrap = await post(`/keys/${key.ref.name}/${key.ref.version}/wrapkey`, { alg, value: b64u(cek) });
        expect(remoteWrap.status).toBe(200);
        const unwrapped = await post(`/keys/${key.ref.name}/${key.ref.version}/unwrapkey`, { alg, value: (remoteWrap.json as { value: string }).value });
        expect(unwrapped.json).toEqual({ kid: kidOf(key), value: b64u(cek) });
      }
    });

    it('RSA1_5: encrypt works, decrypt is refused with a clear 400 (PKCS#1 v1.5 decryption is off in Node 20)', async () => {
      const key = await createKey(`rsa15-${suffix()}`, 'RSA');
      const enc = await post(`/keys/${key.ref.name}/${key.ref.version}/encrypt`, { alg: 'RSA1_5', value: b64u(randomBytes(16)) });
      expect(enc.status).toBe(200);
      const dec = await post(`/keys/${key.ref.name}/${key.ref.version}/decrypt`, { alg: 'RSA1_5', value: (enc.json as { value: string }).value });
      expect(dec.status).toBe(400);
      expect(errorOf(dec).code).toBe('BadParameter');
      expect(errorOf(dec).message).toContain('RSA1_5');
    });
  });

  it('an empty version segment means the latest version, and the kid names it', async () => {
    const name = `latest-${suffix()}`;
    const first = await createKey(name, 'EC', { crv: 'P-256' });
    const latest = await createKey(name, 'EC', { crv: 'P-256' });
    const message = randomBytes(20);
    const digest = createHash('sha256').update(message).digest();
    const signed = await cryptoClient(keyVaultKey(latest, false)).sign('ES256', digest);
    // The SDK reports its own (versionless) id; the signature shows which version did the work.
    expect(verifiedByNode('ES256', message, signed.result, publicKeyOf(latest))).toBe(true);
    expect(verifiedByNode('ES256', message, signed.result, publicKeyOf(first))).toBe(false);
    const rawSign = await post(`/keys/${name}//sign`, { alg: 'ES256', value: b64u(digest) });
    expect(rawSign.status).toBe(200);
    expect((rawSign.json as { kid: string }).kid).toBe(kidOf(latest));
    const [record] = await auditRecords([String(rawSign.headers['x-ms-request-id'])]);
    expect(record).toMatchObject({ operationName: 'KeySign', resultSignature: '200', properties: { id: kidOf(latest), algorithm: 'ES256' } });
  });

  describe('keys made by KeyClient: CryptographyClient from a key id and from the KeyVaultKey', () => {
    let keys: KeyClient;

    beforeAll(() => {
      keys = new KeyClient(base, credential(), { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 } });
    });

    /** The public key of a KeyVaultKey's JWK, for Node. */
    const nodeKeyOf = (k: KeyVaultKey): KeyObject => {
      const jwk = k.key!;
      return k.keyType?.startsWith('RSA')
        ? createPublicKey({ key: { kty: 'RSA', n: b64u(Buffer.from(jwk.n!)), e: b64u(Buffer.from(jwk.e!)) }, format: 'jwk' })
        : createPublicKey({ key: { kty: 'EC', crv: NODE_CRV[jwk.crv!] ?? jwk.crv!, x: b64u(Buffer.from(jwk.x!)), y: b64u(Buffer.from(jwk.y!)) }, format: 'jwk' });
    };

    it('from a key id (the SDK gets the key, then works locally and remotely): RSA-OAEP, RS256, PS384', async () => {
      const name = `kc-rsa-${suffix()}`;
      names.push(name);
      const key = await keys.createRsaKey(name, { keySize: 2048 });
      const client = cryptoClient(key.id!);
      const plaintext = randomBytes(32);
      const enc = await client.encrypt('RSA-OAEP', plaintext);
      expect(enc.keyID).toBe(key.id);
      expect(Buffer.from((await client.decrypt('RSA-OAEP', enc.result)).result)).toEqual(plaintext);
      for (const alg of ['RS256', 'PS384'] as const) {
        const message = randomBytes(64);
        const signed = await client.signData(alg, message);
        expect(verifiedByNode(alg, message, signed.result, nodeKeyOf(key))).toBe(true);
        // The SDK's local verifyData knows PKCS#1 v1.5 only (it checks PS* without PSS padding).
        if (alg === 'RS256') expect((await client.verifyData(alg, message, signed.result)).result).toBe(true);
        expect((await client.verify(alg, createHash(HASH_OF[alg]!).update(message).digest(), signed.result)).result).toBe(true);
      }
    });

    it('from the KeyVaultKey of an EC-HSM P-384 key, and from a versionless id after a rotation (the latest signs)', async () => {
      const name = `kc-ec-${suffix()}`;
      names.push(name);
      const key = await keys.createEcKey(name, { curve: 'P-384', hsm: true });
      expect(key.keyType).toBe('EC-HSM');
      const message = randomBytes(64);
      const signed = await cryptoClient(key).signData('ES384', message);
      expect(verifiedByNode('ES384', message, signed.result, nodeKeyOf(key))).toBe(true);

      const rotated = await keys.rotateKey(name);
      const latest = await cryptoClient(`${base}/keys/${name}`).signData('ES384', message);
      expect(verifiedByNode('ES384', message, latest.result, nodeKeyOf(rotated))).toBe(true);
      expect(verifiedByNode('ES384', message, latest.result, nodeKeyOf(key))).toBe(false);
    });

    it('a key disabled through KeyClient is refused by the vault: 403 Forbidden / KeyDisabled', async () => {
      const name = `kc-off-${suffix()}`;
      names.push(name);
      const key = await keys.createEcKey(name, { curve: 'P-256' });
      await keys.updateKeyProperties(name, key.properties.version!, { enabled: false });
      const err = await cryptoClient(key).sign('ES256', randomBytes(32)).then(
        () => undefined,
        (e: unknown) => e as { statusCode?: number; code?: string; details?: { error?: { innerError?: { code?: string } } } },
      );
      expect(err?.statusCode).toBe(403);
      expect(err?.code).toBe('Forbidden');
      expect(err?.details?.error?.innerError?.code).toBe('KeyDisabled');
    });
  });

  describe('refusals over raw HTTPS: Azure’s status and code, one audit record, nothing leaked', () => {
    let rsa: KeyVersion;
    let ec: KeyVersion;
    const now = Math.floor(Date.now() / 1000);

    beforeAll(async () => {
      rsa = await createKey(`bad-rsa-${suffix()}`, 'RSA');
      ec = await createKey(`bad-ec-${suffix()}`, 'EC', { crv: 'P-256' });
    });

    /** Sends the request, checks the answer and that its one record says the same and carries no input. */
    async function refused(path: string, body: Record<string, unknown>, status: number, code: string, inner?: string): Promise<RawResponse> {
      const res = await post(path, body);
      expect([path, res.status, errorOf(res)?.code, errorOf(res)?.innererror?.code]).toEqual([path, status, code, inner]);
      const requestId = String(res.headers['x-ms-request-id']);
      const records = await auditRecords([requestId]);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ resultSignature: String(status), resultType: 'Failure', properties: { errorCode: inner ?? code } });
      const sent = [body.value, body.digest].filter((v): v is string => typeof v === 'string' && v.length >= 8);
      for (const v of sent) {
        expect(res.text).not.toContain(v);
        expect(JSON.stringify(records[0])).not.toContain(v);
      }
      return res;
    }

    it('wrong key type for the algorithm → 400 BadParameter', async () => {
      const r = await refused(`/keys/${rsa.ref.name}/${rsa.ref.version}/sign`, { alg: 'ES256', value: b64u(randomBytes(32)) }, 400, 'BadParameter');
      expect(errorOf(r).message).toMatch(/^Key and signing algorithm are incompatible\./);
      await refused(`/keys/${rsa.ref.name}/${rsa.ref.version}/encrypt`, { alg: 'A256GCM', value: b64u(randomBytes(16)) }, 400, 'BadParameter');
      await refused(`/keys/${ec.ref.name}/${ec.ref.version}/sign`, { alg: 'ES384', value: b64u(randomBytes(48)) }, 400, 'BadParameter');
    });

    it('unknown algorithm, digest of the wrong length, bad base64url, missing fields → 400 BadParameter', async () => {
      await refused(`/keys/${ec.ref.name}/${ec.ref.version}/sign`, { alg: 'ES999', value: b64u(randomBytes(32)) }, 400, 'BadParameter');
      const r = await refused(`/keys/${ec.ref.name}/${ec.ref.version}/sign`, { alg: 'ES256', value: b64u(randomBytes(50)) }, 400, 'BadParameter');
      expect(errorOf(r).message).toBe("Invalid length of 'value': 50 bytes. ES256 requires 32 bytes, encoded with base64url.");
      await refused(`/keys/${ec.ref.name}/${ec.ref.version}/verify`, { alg: 'ES256', digest: b64u(randomBytes(20)), value: b64u(randomBytes(64)) }, 400, 'BadParameter');
      await refused(`/keys/${rsa.ref.name}/${rsa.ref.version}/decrypt`, { alg: 'RSA-OAEP', value: 'not+base64/url==' }, 400, 'BadParameter');
      await refused(`/keys/${rsa.ref.name}/${rsa.ref.version}/encrypt`, { value: b64u(randomBytes(16)) }, 400, 'BadParameter');
      await refused(`/keys/${rsa.ref.name}/${rsa.ref.version}/wrapkey`, { alg: 'A256GCM', value: b64u(randomBytes(32)) }, 400, 'BadParameter');
    });

    it('oversized plaintext and a ciphertext that does not decrypt → 400 BadParameter', async () => {
      await refused(`/keys/${rsa.ref.name}/${rsa.ref.version}/encrypt`, { alg: 'RSA-OAEP', value: b64u(randomBytes(300)) }, 400, 'BadParameter');
      await refused(`/keys/${rsa.ref.name}/${rsa.ref.version}/decrypt`, { alg: 'RSA-OAEP', value: b64u(randomBytes(256)) }, 400, 'BadParameter');
    });

    it('key_ops without the operation → 403 Forbidden / KeyOperationForbidden', async () => {
      const verifyOnly = await createKey(`ops-${suffix()}`, 'EC', { crv: 'P-256', keyOps: ['verify'] });
      const r = await refused(`/keys/${verifyOnly.ref.name}/${verifyOnly.ref.version}/sign`, { alg: 'ES256', value: b64u(randomBytes(32)) }, 403, 'Forbidden', 'KeyOperationForbidden');
      expect(errorOf(r).message).toBe('Operation sign is not permitted on this key.');
    });

    it('disabled, expired and not-yet-valid keys → 403 Forbidden with KeyDisabled / KeyExpired / KeyNotYetValid', async () => {
      const disabled = await createKey(`off-${suffix()}`, 'EC', { crv: 'P-256', enabled: false });
      const r = await refused(`/keys/${disabled.ref.name}/${disabled.ref.version}/sign`, { alg: 'ES256', value: b64u(randomBytes(32)) }, 403, 'Forbidden', 'KeyDisabled');
      expect(errorOf(r).message).toBe('Operation sign is not allowed on a disabled key.');
      const expired = await createKey(`exp-${suffix()}`, 'RSA', { expires: now - 3600 });
      await refused(`/keys/${expired.ref.name}/${expired.ref.version}/sign`, { alg: 'RS256', value: b64u(randomBytes(32)) }, 403, 'Forbidden', 'KeyExpired');
      await refused(`/keys/${expired.ref.name}/${expired.ref.version}/encrypt`, { alg: 'RSA-OAEP-256', value: b64u(randomBytes(16)) }, 403, 'Forbidden', 'KeyExpired');
      const early = await createKey(`nbf-${suffix()}`, 'EC', { crv: 'P-256', notBefore: now + 3600 });
      await refused(`/keys/${early.ref.name}/${early.ref.version}/sign`, { alg: 'ES256', value: b64u(randomBytes(32)) }, 403, 'Forbidden', 'KeyNotYetValid');
    });

    it('an unknown key → 404 KeyNotFound; an invalid version → 400; POST /rng in a vault → 404 as for any unknown path', async () => {
      await refused(`/keys/missing-${suffix()}/${version()}/sign`, { alg: 'ES256', value: b64u(randomBytes(32)) }, 404, 'KeyNotFound');
      await refused(`/keys/${ec.ref.name}/not-a-version/sign`, { alg: 'ES256', value: b64u(randomBytes(32)) }, 400, 'BadParameter');
      await refused('/rng', { count: 10 }, 404, 'NotFound');
    });

    it('no plaintext, digest or signature reaches the vault log', async () => {
      const digest = b64u(randomBytes(32));
      const ok = await post(`/keys/${ec.ref.name}/${ec.ref.version}/sign`, { alg: 'ES256', value: digest });
      expect(ok.status).toBe(200);
      const signature = (ok.json as { value: string }).value;
      const bad = await post(`/keys/${ec.ref.name}/${ec.ref.version}/sign`, { alg: 'RS256', value: digest });
      expect(bad.status).toBe(400);
      let log = '';
      try {
        log = readFileSync(join(HOME, 'logs', 'vault.log'), 'utf8');
      } catch {
        log = '';
      }
      expect(log.includes(digest) || log.includes(signature)).toBe(false);
      const records = await auditRecords([String(ok.headers['x-ms-request-id']), String(bad.headers['x-ms-request-id'])]);
      expect(records).toHaveLength(2);
      expect(JSON.stringify(records)).not.toContain(digest);
      expect(JSON.stringify(records)).not.toContain(signature);
    });
  });

  describe('RBAC', () => {
    let user: ServicePrincipal;
    let encryptionUser: ServicePrincipal;
    let rsa: KeyVersion;

    beforeAll(async () => {
      rsa = await createKey(`rbac-${suffix()}`, 'RSA');
      user = await createServicePrincipal(`e2e-cryptouser-${suffix()}`);
      encryptionUser = await createServicePrincipal(`e2e-encuser-${suffix()}`);
      await assignRole(user.objectId, 'Key Vault Crypto User', `/vaults/${vault}`);
      await assignRole(encryptionUser.objectId, 'Key Vault Crypto Service Encryption User', `/vaults/${vault}/keys`);
    });

    it('Key Vault Crypto User signs', async () => {
      const client = cryptoClient(keyVaultKey(rsa), user);
      const digest = createHash('sha256').update('hello').digest();
      const signed = await eventually(async () => client.sign('RS256', digest).catch(() => undefined), 30_000, 200);
      expect(signed?.keyID).toBe(kidOf(rsa));
      expect(verifiedByNode('RS256', Buffer.from('hello'), signed!.result, publicKeyOf(rsa))).toBe(true);
    });

    it('Key Vault Crypto Service Encryption User gets the key, wraps and unwraps, but cannot sign (403 ForbiddenByRbac, one record)', async () => {
      // A key the vault knows (REST create), so the SDK's GET of the key id is answered by the keys routes.
      const name = `rbac-rest-${suffix()}`;
      names.push(name);
      const created = await post(`/keys/${name}/create`, { kty: 'RSA', key_size: 2048 });
      expect(created.status).toBe(200);
      const kid = (created.json as { key: { kid: string } }).key.kid;
      const cek = randomBytes(32);
      // A fresh client per attempt: its first GET must see the new assignment.
      const done = await eventually(
        async () => {
          const client = cryptoClient(kid, encryptionUser);
          const wrapped = await client.wrapKey('RSA-OAEP-256', cek).catch(() => undefined);
          return wrapped ? { client, wrapped } : undefined;
        },
        30_000,
        200,
      );
      expect(done).toBeDefined();
      expect(Buffer.from((await done!.client.unwrapKey('RSA-OAEP-256', done!.wrapped.result)).result)).toEqual(cek);
      const rows = await db().query<{ op: string; status: string }>(
        `SELECT payload->'data'->>'operationName' AS op, payload->'data'->>'resultSignature' AS status FROM vault.outbox
          WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->'identity'->>'oid' = $1`,
        [encryptionUser.objectId],
      );
      const seen = rows.rows.map((r) => `${r.op} ${r.status}`);
      expect(seen).toEqual(expect.arrayContaining(['KeyGet 200', 'KeyWrap 200', 'KeyUnwrap 200']));
      const userToken = await accessToken(VAULT_RESOURCE, encryptionUser.credentials);
      const denied = await post(`/keys/${rsa.ref.name}/${rsa.ref.version}/sign`, { alg: 'RS256', value: b64u(randomBytes(32)) }, userToken);
      expect(denied.status).toBe(403);
      expect(errorOf(denied)).toMatchObject({ code: 'Forbidden', innererror: { code: 'ForbiddenByRbac' } });
      expect(errorOf(denied).message).toContain("Action: 'Microsoft.KeyVault/vaults/keys/sign/action'");
      const records = await auditRecords([String(denied.headers['x-ms-request-id'])]);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ operationName: 'KeySign', resultSignature: '403', identity: { oid: encryptionUser.objectId } });
    });
    it('a principal that may use keys but not read them: the SDK’s GET is refused (403), it falls back to remote-only and encrypts remotely', async () => {
      const roleName = `e2e-remote-only-${suffix()}`;
      const k = 'Microsoft.KeyVault/vaults/keys';
      const role = await identityAdmin('/admin/roleDefinitions', 'POST', { roleName, dataActions: [`${k}/encrypt/action`, `${k}/decrypt/action`, `${k}/sign/action`] });
      expect(role.status).toBe(201);
      const blind = await createServicePrincipal(`e2e-blind-${suffix()}`);
      await assignRole(blind.objectId, roleName, `/vaults/${vault}`);
      const client = cryptoClient(kidOf(rsa), blind);
      const plaintext = randomBytes(24);
      const enc = await eventually(async () => client.encrypt('RSA-OAEP', plaintext).catch(() => undefined), 30_000, 200);
      expect(enc?.keyID).toBe(kidOf(rsa));
      expect(Buffer.from((await client.decrypt('RSA-OAEP', enc!.result)).result)).toEqual(plaintext);
      const rows = await db().query<{ op: string; status: string }>(
        `SELECT payload->'data'->>'operationName' AS op, payload->'data'->>'resultSignature' AS status FROM vault.outbox
          WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->'identity'->>'oid' = $1`,
        [blind.objectId],
      );
      const seen = rows.rows.map((r) => `${r.op} ${r.status}`);
      expect(seen).toContain('KeyGet 403');
      expect(seen).toContain('KeyEncrypt 200');
      expect(seen).toContain('KeyDecrypt 200');
    });
  });
});
