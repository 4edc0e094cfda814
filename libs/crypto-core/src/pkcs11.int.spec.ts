/**
 * PKCS#11 against a throwaway SoftHSM2 token created in a temp directory (its own
 * softhsm2.conf, SOFTHSM2_CONF set before the module is loaded).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { constants, createHash, createPublicKey, randomBytes, verify as nodeVerify, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { Worker } from 'node:worker_threads';
import pkcs11js from 'pkcs11js';
import { createByokTransferBlob, parseByokBlob, unwrapByokBlob } from './byok.js';
import { DomainError } from './crypto.errors.js';
import { createVaultKek, generateDataKey, unwrapDataKey, unwrapVaultKek } from './key-hierarchy.js';
import { Pkcs11RootKey } from './pkcs11-root.js';
import { Pkcs11Token, type HsmKeyPair } from './pkcs11-token.js';
import { generateSoftwareKey, type EcPublicJwk, type RsaPublicJwk } from './software-key.js';

const MODULE = process.env['SOFTHSM2_MODULE'] ?? '/usr/lib/softhsm/libsofthsm2.so';
const PIN = '123456';
const SO_PIN = '87654321';
const LABEL = `kl-test-${randomBytes(4).toString('hex')}`;

let dir = '';
let presetConf: string | undefined;

async function errorOf(fn: () => unknown): Promise<DomainError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof DomainError) return e;
    throw e;
  }
  throw new Error('expected a DomainError, nothing was thrown');
}

function nodeKey(jwk: RsaPublicJwk | EcPublicJwk) {
  const crv = jwk.kty === 'EC' ? (jwk.crv === 'P-256K' ? 'secp256k1' : jwk.crv) : undefined;
  return createPublicKey({ key: { ...jwk, ...(crv ? { crv } : {}) }, format: 'jwk' });
}

/**
 * A TLS (PSK, no certificates) echo peer on a worker thread, so it has its own OpenSSL error
 * queue, and a client connection to it on this thread.
 */
async function tlsEchoPeer(): Promise<{ roundTrip(during: () => void): Promise<string>; close(): Promise<void> }> {
  const psk = randomBytes(32);
  const tlsOptions = { ciphers: 'PSK-AES128-GCM-SHA256', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const tls = require('node:tls');
     const server = tls.createServer({ ...workerData.tlsOptions, pskCallback: () => Buffer.from(workerData.psk) }, (s) => {
       s.on('data', (d) => s.write(d));
       s.on('error', () => {});
     });
     server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));`,
    { eval: true, workerData: { psk, tlsOptions } },
  );
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const socket: TLSSocket = connect({ host: '127.0.0.1', port, ...tlsOptions, pskCallback: () => ({ psk, identity: 'keyledger-test' }), checkServerIdentity: () => undefined });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  return {
    /** Sends a message and runs `during` while the echo is in flight; resolves with the echo, or how the connection failed. */
    roundTrip(during) {
      const reply = new Promise<string>((resolve) => {
        const onData = (d: Buffer) => {
          socket.off('error', onError);
          resolve(d.toString());
        };
        const onError = (e: Error) => {
          socket.off('data', onData);
          resolve(`connection failed: ${e.message}`);
        };
        socket.once('data', onData);
        socket.once('error', onError);
      });
      socket.write('echo');
      during();
      return reply;
    },
    async close() {
      socket.destroy();
      await worker.terminate();
    },
  };
}

beforeAll(() => {
  presetConf = process.env['SOFTHSM2_CONF'];
  let conf = presetConf;
  if (!conf) {
    dir = mkdtempSync(join(tmpdir(), 'keyledger-softhsm-'));
    mkdirSync(join(dir, 'tokens'));
    conf = join(dir, 'softhsm2.conf');
    writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
    // SoftHSM reads SOFTHSM2_CONF from the real environment at C_Initialize. Jest gives tests a
    // copy of process.env, so assigning to it would not reach the module: loadEnvFile sets the
    // variable in the real environment of this process.
    const envFile = join(dir, 'softhsm.env');
    writeFileSync(envFile, `SOFTHSM2_CONF="${conf}"\n`);
    process.loadEnvFile(envFile);
    process.env['SOFTHSM2_CONF'] = conf;
  }
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', LABEL, '--pin', PIN, '--so-pin', SO_PIN], {
    env: { ...process.env, SOFTHSM2_CONF: conf },
    stdio: 'pipe',
  });
});

afterAll(() => {
  if (presetConf) {
    execFileSync('softhsm2-util', ['--delete-token', '--token', LABEL], { env: { ...process.env }, stdio: 'pipe' });
  }
  if (dir && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
});

describe('PKCS#11 root key (SoftHSM2)', () => {
  it('wrap/unwrap round trip inside the token; AAD and every bit are authenticated', async () => {
    const root = Pkcs11RootKey.open({ modulePath: MODULE, tokenLabel: LABEL, pin: PIN, keyLabel: 'keyledger-root', createIfMissing: true });
    try {
      expect(root.id).toBe('hsm:keyledger-root');
      const secret = randomBytes(32);
      const aad = Buffer.from('vault:v1');
      const wrapped = await root.wrap(secret, aad);
      expect(wrapped[0]).toBe(0x01);
      expect(await root.unwrap(wrapped, aad)).toEqual(secret);
      expect((await errorOf(() => root.unwrap(wrapped, Buffer.from('vault:v2')))).code).toBe('CiphertextInvalid');
      for (const i of [0, 5, wrapped.length - 20, wrapped.length - 1]) {
        const bad = Buffer.from(wrapped);
        bad[i]! ^= 0x01;
        expect((await errorOf(() => root.unwrap(bad, aad))).code).toBe('CiphertextInvalid');
      }
    } finally {
      root.close();
    }
  });

  it('the root object is sensitive and non-extractable, and persists across sessions', async () => {
    const token = Pkcs11Token.open({ modulePath: MODULE, tokenLabel: LABEL, pin: PIN });
    try {
      const root = Pkcs11RootKey.fromToken(token, 'keyledger-root');
      const handle = token.findObjects([{ type: pkcs11js.CKA_LABEL, value: 'keyledger-root' }])[0]!;
      const [extractable, sensitive, neverExtractable] = token.attributes(handle, [pkcs11js.CKA_EXTRACTABLE, pkcs11js.CKA_SENSITIVE, pkcs11js.CKA_NEVER_EXTRACTABLE]);
      expect(extractable![0]).toBe(0);
      expect(sensitive![0]).toBe(1);
      expect(neverExtractable![0]).toBe(1);
      expect(() => token.attributes(handle, [pkcs11js.CKA_VALUE])).toThrow(DomainError);

      // Full hierarchy under the HSM root.
      const vault = { tenant: 't', vault: 'hsm-vault' };
      const created = await createVaultKek(root, vault);
      const kek = await unwrapVaultKek(root, vault, created.kekId, created.wrapped);
      const identity = { ...vault, collection: 'secrets', name: 's', version: '1' };
      const dk = generateDataKey(kek, identity);
      expect(unwrapDataKey(kek, identity, dk.wrapped)).toEqual(dk.plaintext);
      expect((await errorOf(() => unwrapVaultKek(root, { ...vault, vault: 'other' }, created.kekId, created.wrapped))).code).toBe('CiphertextInvalid');
    } finally {
      token.close();
    }
  });

  it('wrong PIN -> RootUnavailable with a clear message that does not contain the PIN', async () => {
    const e = await errorOf(() => Pkcs11RootKey.open({ modulePath: MODULE, tokenLabel: LABEL, pin: '999999', keyLabel: 'keyledger-root' }));
    expect(e.code).toBe('RootUnavailable');
    expect(e.message).toContain('PIN is incorrect');
    expect(e.message).toContain(LABEL);
    expect(e.message).not.toContain('999999');
    expect(JSON.stringify(e.details)).not.toContain('999999');
  });

  it('missing token -> RootUnavailable naming the label; missing root object without createIfMissing -> RootUnavailable', async () => {
    const e = await errorOf(() => Pkcs11Token.open({ modulePath: MODULE, tokenLabel: 'no-such-token', pin: PIN }));
    expect(e.code).toBe('RootUnavailable');
    expect(e.message).toContain("'no-such-token'");
    const e2 = await errorOf(() => Pkcs11RootKey.open({ modulePath: MODULE, tokenLabel: LABEL, pin: PIN, keyLabel: 'not-created' }));
    expect(e2.code).toBe('RootUnavailable');
    expect(e2.message).toContain("'not-created'");
    const e3 = await errorOf(() => Pkcs11Token.open({ modulePath: '/nonexistent/libpkcs11.so', tokenLabel: LABEL, pin: PIN }));
    expect(e3.code).toBe('RootUnavailable');
  });

  it('the service recovers: after a wrong PIN, the right PIN opens the token and old envelopes still unwrap', async () => {
    const first = Pkcs11RootKey.open({ modulePath: MODULE, tokenLabel: LABEL, pin: PIN, keyLabel: 'keyledger-root' });
    const wrapped = await first.wrap(Buffer.from('kek'), Buffer.from('aad'));
    first.close();
    expect((await errorOf(() => Pkcs11RootKey.open({ modulePath: MODULE, tokenLabel: LABEL, pin: '000000', keyLabel: 'keyledger-root' }))).code).toBe('RootUnavailable');
    const again = Pkcs11RootKey.open({ modulePath: MODULE, tokenLabel: LABEL, pin: PIN, keyLabel: 'keyledger-root' });
    try {
      expect((await again.unwrap(wrapped, Buffer.from('aad'))).toString()).toBe('kek');
    } finally {
      again.close();
    }
  });
});

describe('PKCS#11 HSM key pairs (SoftHSM2)', () => {
  let token: Pkcs11Token;
  const made: HsmKeyPair[] = [];
  beforeAll(() => {
    token = Pkcs11Token.open({ modulePath: MODULE, tokenLabel: LABEL, pin: PIN });
  });
  afterAll(() => {
    for (const k of made) {
      try {
        k.destroy();
      } catch {
        /* already destroyed */
      }
    }
    token.close();
  });

  it('RSA-2048: RS256/RS512/PS256/PS384 signatures verify with Node crypto using the exported public JWK', () => {
    const k = token.generateRsaKeyPair('rsa-2048-a', 2048);
    made.push(k);
    const jwk = k.publicJwk() as RsaPublicJwk;
    expect(jwk.kty).toBe('RSA');
    expect(jwk.e).toBe('AQAB');
    expect(Buffer.from(jwk.n, 'base64url').length).toBe(256);
    const pub = nodeKey(jwk);
    const message = randomBytes(40);
    for (const [alg, hash, pss] of [['RS256', 'sha256', false], ['RS512', 'sha512', false], ['PS256', 'sha256', true], ['PS384', 'sha384', true]] as const) {
      const digest = createHash(hash).update(message).digest();
      const sig = k.sign(alg, digest);
      const ok = pss
        ? nodeVerify(hash, message, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digest.length }, sig)
        : nodeVerify(hash, message, pub, sig);
      expect(ok).toBe(true);
      expect(k.verify(alg, digest, sig)).toBe(true);
      const bad = Buffer.from(sig);
      bad[0]! ^= 1;
      expect(k.verify(alg, digest, bad)).toBe(false);
    }
    expect(() => k.sign('ES256', Buffer.alloc(32))).toThrow(DomainError);
    expect(() => k.sign('RS256', Buffer.alloc(31))).toThrow(DomainError);
  });

  it('the private key is sensitive and non-extractable', () => {
    const k = token.findKeyPair('rsa-2048-a');
    const priv = token.findObjects([{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_ID, value: Buffer.from(k.objectId) }])[0]!;
    const [extractable, sensitive] = token.attributes(priv, [pkcs11js.CKA_EXTRACTABLE, pkcs11js.CKA_SENSITIVE]);
    expect(extractable![0]).toBe(0);
    expect(sensitive![0]).toBe(1);
    expect(() => token.attributes(priv, [pkcs11js.CKA_PRIVATE_EXPONENT])).toThrow(DomainError);
  });

  it('EC P-256 (and P-384, P-521, P-256K): ECDSA raw r‖s verifies with Node crypto using the exported public JWK', () => {
    const cases = [['P-256', 'ES256', 'sha256', 64], ['P-384', 'ES384', 'sha384', 96], ['P-521', 'ES512', 'sha512', 132], ['P-256K', 'ES256K', 'sha256', 64]] as const;
    for (const [crv, alg, hash, sigLen] of cases) {
      const k = token.generateEcKeyPair(`ec-${crv}`, crv);
      made.push(k);
      const jwk = k.publicJwk() as EcPublicJwk;
      expect(jwk).toEqual({ kty: 'EC', crv, x: expect.any(String), y: expect.any(String) });
      const message = randomBytes(50);
      const digest = createHash(hash).update(message).digest();
      const sig = k.sign(alg, digest);
      expect(sig.length).toBe(sigLen);
      expect(nodeVerify(hash, message, { key: nodeKey(jwk), dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
      expect(k.verify(alg, digest, sig)).toBe(true);
    }
  });

  it('RSA-OAEP-256 and RSA-OAEP: decrypts values encrypted by WebCrypto with the exported public JWK', async () => {
    const k = token.findKeyPair('rsa-2048-a');
    for (const [alg, hash] of [['RSA-OAEP-256', 'SHA-256'], ['RSA-OAEP', 'SHA-1']] as const) {
      const pub = await webcrypto.subtle.importKey('jwk', { ...k.publicJwk() }, { name: 'RSA-OAEP', hash }, false, ['encrypt']);
      const plaintext = randomBytes(32);
      const ct = Buffer.from(await webcrypto.subtle.encrypt({ name: 'RSA-OAEP' }, pub, plaintext));
      expect(k.decrypt(alg, ct)).toEqual(plaintext);
      const bad = Buffer.from(ct);
      bad[7]! ^= 1;
      expect((await errorOf(() => k.decrypt(alg, bad))).code).toBe('CiphertextInvalid');
    }
    expect((await errorOf(() => k.decrypt('RSA1_5', Buffer.alloc(256)))).code).toBe('NotSupported');
  });

  it('RSA-3072 generation; BYOK import with an HSM key exchange key', async () => {
    const kek = token.generateRsaKeyPair('byok-kek', 3072);
    made.push(kek);
    expect(kek.descriptor.sizeBits).toBe(3072);
    const target = await generateSoftwareKey({ kty: 'EC', crv: 'P-384' });
    const blob = createByokTransferBlob(target, kek.publicJwk() as RsaPublicJwk, 'https://v.example/keys/byok-kek/1');
    const imported = await unwrapByokBlob(parseByokBlob(blob), { modulusBytes: 384, decryptOaepSha1: (c) => kek.decrypt('RSA-OAEP', c) }, 'EC');
    expect(imported).toEqual(target);
  });

  it("a token call failing inside OpenSSL leaves nothing on OpenSSL's error queue: a TLS connection on this thread survives", async () => {
    const k = token.generateEcKeyPair('ec-error-queue', 'P-256');
    made.push(k);
    const peer = await tlsEchoPeer();
    try {
      expect(await peer.roundTrip(() => undefined)).toBe('echo');
      // SoftHSM's ECDSA verification of an out-of-range r, s (0, or ≥ n) fails inside (Node's)
      // OpenSSL and leaves "bad signature" queued.
      for (const badSignature of [Buffer.alloc(64), Buffer.alloc(64, 0xff), randomBytes(64)]) {
        expect(await peer.roundTrip(() => expect(k.verify('ES256', randomBytes(32), badSignature)).toBe(false))).toBe('echo');
      }
    } finally {
      await peer.close();
    }

    // Control: the same failing call made on the module directly, unfenced, does kill the connection.
    const raw = new pkcs11js.PKCS11();
    raw.load(MODULE);
    try {
      raw.C_Initialize();
    } catch {
      /* CKR_CRYPTOKI_ALREADY_INITIALIZED: the token above shares the module (and its login) */
    }
    const slot = raw.C_GetSlotList(true).find((s) => raw.C_GetTokenInfo(s).label.trimEnd() === LABEL)!;
    const session = raw.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    const control = await tlsEchoPeer();
    try {
      raw.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, { type: pkcs11js.CKA_ID, value: Buffer.from('ec-error-queue') }]);
      const [pub] = raw.C_FindObjects(session, 1);
      raw.C_FindObjectsFinal(session);
      const outcome = await control.roundTrip(() => {
        raw.C_VerifyInit(session, { mechanism: pkcs11js.CKM_ECDSA }, pub!);
        expect(() => raw.C_Verify(session, randomBytes(32), Buffer.alloc(64))).toThrow(/CKR_SIGNATURE_INVALID/);
      });
      expect(outcome).toMatch(/^connection failed/);
    } finally {
      randomBytes(1); // clears whatever the control left queued
      await control.close();
      raw.C_CloseSession(session);
    }
  });

  it('destroy removes the objects (crypto-shredding): the key is gone', async () => {
    const k = token.generateEcKeyPair('to-destroy', 'P-256');
    expect(token.destroyObjects('to-destroy')).toBe(2);
    expect((await errorOf(() => token.findKeyPair('to-destroy'))).code).toBe('HsmObjectNotFound');
    expect((await errorOf(() => k.sign('ES256', Buffer.alloc(32)))).code).toBe('HsmObjectNotFound');
    expect((await errorOf(() => token.generateEcKeyPair('ec-P-256', 'P-256'))).code).toBe('BadParameter');
  });
});
