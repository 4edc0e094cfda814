/**
 * Cross-implementation tests: every signature is checked by an independent verifier (Node
 * `crypto.verify` over the original message, WebCrypto over the imported public JWK), every
 * encryption is decrypted by an independent implementation (WebCrypto, or RFC test vectors).
 */
import { describe, expect, it } from '@jest/globals';
import { constants, createHash, createPrivateKey, createPublicKey, privateDecrypt, randomBytes, sign as nodeSign, verify as nodeVerify, webcrypto } from 'node:crypto';
import { SIGNATURE_SCHEMES, type CurveName, type SignatureAlgorithm } from './algorithms.js';
import { DomainError } from './crypto.errors.js';
import { generateSoftwareKey, getRandomBytes, isRsa15DecryptSupported, loadSoftwareKey, type EcPrivateJwk, type PrivateJwk, type PublicJwk, type SoftwareKey } from './software-key.js';

const subtle = webcrypto.subtle;

function errorOf(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DomainError) return e;
    throw e;
  }
  throw new Error('expected a DomainError, nothing was thrown');
}

const keys = new Map<string, { jwk: PrivateJwk; key: SoftwareKey }>();
async function key(spec: 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | CurveName | 'oct-128' | 'oct-192' | 'oct-256'): Promise<SoftwareKey> {
  let entry = keys.get(spec);
  if (!entry) {
    const jwk = spec.startsWith('RSA-')
      ? await generateSoftwareKey({ kty: 'RSA', size: Number(spec.slice(4)) as 2048 | 3072 | 4096 })
      : spec.startsWith('oct-')
        ? await generateSoftwareKey({ kty: 'oct', size: Number(spec.slice(4)) as 128 | 192 | 256 })
        : await generateSoftwareKey({ kty: 'EC', crv: spec as CurveName });
    entry = { jwk, key: loadSoftwareKey(jwk) };
    keys.set(spec, entry);
  }
  return entry.key;
}

const webHash = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' } as const;
const webCurve: Partial<Record<CurveName, string>> = { 'P-256': 'P-256', 'P-384': 'P-384', 'P-521': 'P-521' };

function nodePublicKey(jwk: PublicJwk) {
  if (jwk.kty === 'oct') throw new Error('no public key');
  const crv = jwk.kty === 'EC' && jwk.crv === 'P-256K' ? 'secp256k1' : jwk.kty === 'EC' ? jwk.crv : undefined;
  return createPublicKey({ key: { ...jwk, ...(crv ? { crv } : {}) }, format: 'jwk' });
}

const ecCases: [SignatureAlgorithm, CurveName][] = [['ES256', 'P-256'], ['ES256K', 'P-256K'], ['ES384', 'P-384'], ['ES512', 'P-521']];
const ecBytes: Record<CurveName, number> = { 'P-256': 32, 'P-256K': 32, 'P-384': 48, 'P-521': 66 };
/** Group orders (SEC 2 / FIPS 186-5). */
const ecOrder: Record<CurveName, bigint> = {
  'P-256': 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  'P-256K': 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
  'P-384': 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  'P-521': 0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
};

const signCases: { alg: SignatureAlgorithm; key: Parameters<typeof key>[0] }[] = [
  { alg: 'RS256', key: 'RSA-2048' },
  { alg: 'RS384', key: 'RSA-3072' },
  { alg: 'RS512', key: 'RSA-2048' },
  { alg: 'PS256', key: 'RSA-2048' },
  { alg: 'PS384', key: 'RSA-2048' },
  { alg: 'PS512', key: 'RSA-3072' },
  { alg: 'ES256', key: 'P-256' },
  { alg: 'ES256K', key: 'P-256K' },
  { alg: 'ES384', key: 'P-384' },
  { alg: 'ES512', key: 'P-521' },
];

describe('software keys: generation and JWK export', () => {
  it('generates RSA 2048/3072/4096 with e = 65537 and exports Azure-shaped JWKs', async () => {
    for (const size of [2048, 3072, 4096] as const) {
      const k = await key(`RSA-${size}`);
      expect(k.sizeBits).toBe(size);
      const pub = k.publicJwk();
      expect(pub).toEqual({ kty: 'RSA', n: expect.any(String), e: 'AQAB' });
      expect(Buffer.from((pub as { n: string }).n, 'base64url').length).toBe(size / 8);
      const priv = k.exportPrivateJwk();
      expect(Object.keys(priv).sort()).toEqual(['d', 'dp', 'dq', 'e', 'kty', 'n', 'p', 'q', 'qi']);
    }
  });

  it('generates EC keys on P-256, P-256K (secp256k1), P-384, P-521 with Azure curve names', async () => {
    const sizes: Record<CurveName, number> = { 'P-256': 32, 'P-256K': 32, 'P-384': 48, 'P-521': 66 };
    for (const crv of ['P-256', 'P-256K', 'P-384', 'P-521'] as const) {
      const pub = (await key(crv)).publicJwk();
      expect(pub).toEqual({ kty: 'EC', crv, x: expect.any(String), y: expect.any(String) });
      if (pub.kty === 'EC') expect(Buffer.from(pub.x, 'base64url').length).toBe(sizes[crv]);
      expect((await key(crv)).exportPrivateJwk()).toMatchObject({ kty: 'EC', crv });
    }
  });

  it('generates oct 128/192/256 keys; their public JWK carries no material', async () => {
    for (const size of [128, 192, 256] as const) {
      const k = await key(`oct-${size}`);
      expect(k.sizeBits).toBe(size);
      expect(k.publicJwk()).toEqual({ kty: 'oct' });
      const priv = k.exportPrivateJwk();
      expect(priv.kty === 'oct' && Buffer.from(priv.k, 'base64url').length).toBe(size / 8);
    }
  });

  it('round-trips through the private JWK', async () => {
    const k = await key('P-256');
    const again = loadSoftwareKey(k.exportPrivateJwk());
    const digest = createHash('sha256').update('m').digest();
    expect(again.verify('ES256', digest, k.sign('ES256', digest))).toBe(true);
  });

  it('rejects inconsistent or malformed JWKs with BadParameter', async () => {
    const a = (await key('P-256')).exportPrivateJwk() as EcPrivateJwk;
    const b = (await generateSoftwareKey({ kty: 'EC', crv: 'P-256' })) as EcPrivateJwk;
    expect(errorOf(() => loadSoftwareKey({ ...a, d: b.d })).details['reason']).toBe('MalformedKey');
    expect(errorOf(() => loadSoftwareKey({ ...a, x: 'not base64!' })).details['reason']).toBe('Encoding');
    const b64 = (n: bigint, len: number) => Buffer.from(n.toString(16).padStart(2 * len, '0'), 'hex').toString('base64url');
    expect(errorOf(() => loadSoftwareKey({ ...a, d: b64(0n, 32) })).details['reason']).toBe('MalformedKey');
    expect(errorOf(() => loadSoftwareKey({ ...a, d: b64(ecOrder['P-256'], 32) })).details['reason']).toBe('MalformedKey');
    expect(errorOf(() => loadSoftwareKey({ ...a, d: Buffer.alloc(31, 1).toString('base64url') })).details['reason']).toBe('MalformedKey');
    const y = Buffer.from(a.y, 'base64url');
    y[31]! ^= 1;
    expect(errorOf(() => loadSoftwareKey({ ...a, y: y.toString('base64url') })).details['reason']).toBe('MalformedKey');
    const rsa = (await key('RSA-2048')).exportPrivateJwk();
    const other = (await key('RSA-3072')).exportPrivateJwk();
    if (rsa.kty === 'RSA' && other.kty === 'RSA') {
      expect(errorOf(() => loadSoftwareKey({ ...rsa, p: other.p })).code).toBe('BadParameter');
    }
    expect(errorOf(() => loadSoftwareKey({ kty: 'oct', k: Buffer.alloc(20).toString('base64url') })).details['reason']).toBe('KeySize');
    expect(errorOf(() => loadSoftwareKey({ kty: 'XYZ' } as unknown as PrivateJwk)).code).toBe('BadParameter');
  });
});

describe('sign over a caller-supplied digest', () => {
  for (const c of signCases) {
    it(`${c.alg}: verified by Node crypto.verify over the original message`, async () => {
      const k = await key(c.key);
      const scheme = SIGNATURE_SCHEMES[c.alg];
      const message = randomBytes(100);
      const digest = createHash(scheme.hash).update(message).digest();
      const sig = k.sign(c.alg, digest);
      const pub = nodePublicKey(k.publicJwk());
      const ok =
        scheme.kind === 'pkcs1'
          ? nodeVerify(scheme.hash, message, pub, sig)
          : scheme.kind === 'pss'
            ? nodeVerify(scheme.hash, message, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.digestBytes }, sig)
            : nodeVerify(scheme.hash, message, { key: pub, dsaEncoding: 'ieee-p1363' }, sig);
      expect(ok).toBe(true);
      expect(k.verify(c.alg, digest, sig)).toBe(true);
      const bad = Buffer.from(sig);
      bad[bad.length - 1]! ^= 1;
      expect(k.verify(c.alg, digest, bad)).toBe(false);
      const otherDigest = Buffer.from(digest);
      otherDigest[0]! ^= 1;
      expect(k.verify(c.alg, otherDigest, sig)).toBe(false);
    });

    if (c.alg !== 'ES256K') {
      it(`${c.alg}: verified by WebCrypto with the exported public JWK`, async () => {
        const k = await key(c.key);
        const scheme = SIGNATURE_SCHEMES[c.alg];
        const message = randomBytes(64);
        const digest = createHash(scheme.hash).update(message).digest();
        const sig = k.sign(c.alg, digest);
        const jwk = k.publicJwk() as webcrypto.JsonWebKey;
        const hash = webHash[scheme.hash];
        let ok: boolean;
        if (scheme.kind === 'pkcs1') {
          const pk = await subtle.importKey('jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash }, false, ['verify']);
          ok = await subtle.verify('RSASSA-PKCS1-v1_5', pk, sig, message);
        } else if (scheme.kind === 'pss') {
          const pk = await subtle.importKey('jwk', jwk, { name: 'RSA-PSS', hash }, false, ['verify']);
          ok = await subtle.verify({ name: 'RSA-PSS', saltLength: scheme.digestBytes }, pk, sig, message);
        } else {
          const namedCurve = webCurve[scheme.curve!]!;
          const pk = await subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve }, false, ['verify']);
          ok = await subtle.verify({ name: 'ECDSA', hash }, pk, sig, message);
        }
        expect(ok).toBe(true);
      });
    }

    it(`${c.alg}: verifies signatures made by Node crypto.sign over the message`, async () => {
      const k = await key(c.key);
      const scheme = SIGNATURE_SCHEMES[c.alg];
      const message = randomBytes(33);
      const digest = createHash(scheme.hash).update(message).digest();
      const jwk = k.exportPrivateJwk();
      const nodeJwk = jwk.kty === 'EC' && jwk.crv === 'P-256K' ? { ...jwk, crv: 'secp256k1' } : { ...jwk };
      const priv = createPrivateKey({ key: nodeJwk, format: 'jwk' });
      const sig =
        scheme.kind === 'pkcs1'
          ? nodeSign(scheme.hash, message, priv)
          : scheme.kind === 'pss'
            ? nodeSign(scheme.hash, message, { key: priv, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.digestBytes })
            : nodeSign(scheme.hash, message, { key: priv, dsaEncoding: 'ieee-p1363' });
      expect(k.verify(c.alg, digest, sig)).toBe(true);
    });
  }

  it('ECDSA handles extreme digests (all zero, all 0xff) on every curve', async () => {
    for (const [alg, crv] of ecCases) {
      const k = await key(crv);
      const len = SIGNATURE_SCHEMES[alg].digestBytes;
      for (const digest of [Buffer.alloc(len), Buffer.alloc(len, 0xff)]) {
        const sig = k.sign(alg, digest);
        expect(sig.length).toBe(crv === 'P-521' ? 132 : crv === 'P-384' ? 96 : 64);
        expect(k.verify(alg, digest, sig)).toBe(true);
      }
    }
  });

  it('ECDSA: many signatures over random digests all verify with Node (P-256)', async () => {
    const k = await key('P-256');
    const pub = nodePublicKey(k.publicJwk());
    for (let i = 0; i < 200; i++) {
      const message = randomBytes(16);
      const sig = k.sign('ES256', createHash('sha256').update(message).digest());
      expect(nodeVerify('sha256', message, { key: pub, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
    }
  });

  it('ECDSA: wrong digest length -> BadParameter (DigestLength) for sign and verify on every curve', async () => {
    for (const [alg, crv] of ecCases) {
      const k = await key(crv);
      const len = SIGNATURE_SCHEMES[alg].digestBytes;
      for (const wrong of [0, len - 1, len + 1, 66]) {
        expect(errorOf(() => k.sign(alg, Buffer.alloc(wrong, 1))).details['reason']).toBe('DigestLength');
        expect(errorOf(() => k.verify(alg, Buffer.alloc(wrong, 1), Buffer.alloc(2 * ecBytes[crv]))).details['reason']).toBe('DigestLength');
      }
    }
  });

  it('ECDSA: the high-S twin (r, n - s) of a valid signature verifies, for Node as well, on every curve', async () => {
    for (const [alg, crv] of ecCases) {
      const k = await key(crv);
      const scheme = SIGNATURE_SCHEMES[alg];
      const pub = nodePublicKey(k.publicJwk());
      const message = randomBytes(40);
      const digest = createHash(scheme.hash).update(message).digest();
      const sig = k.sign(alg, digest);
      const L = ecBytes[crv];
      const s = BigInt('0x' + sig.subarray(L).toString('hex'));
      const twin = Buffer.concat([sig.subarray(0, L), Buffer.from((ecOrder[crv] - s).toString(16).padStart(2 * L, '0'), 'hex')]);
      expect(nodeVerify(scheme.hash, message, { key: pub, dsaEncoding: 'ieee-p1363' }, twin)).toBe(true);
      expect(k.verify(alg, digest, twin)).toBe(true);
    }
  });

  it('ECDSA: tampered, truncated, zero and out-of-range signatures verify false (never throw)', async () => {
    for (const [alg, crv] of ecCases) {
      const k = await key(crv);
      const digest = randomBytes(SIGNATURE_SCHEMES[alg].digestBytes);
      const sig = k.sign(alg, digest);
      const L = ecBytes[crv];
      expect(sig.length).toBe(2 * L);
      const flippedR = Buffer.from(sig);
      flippedR[3]! ^= 0x10;
      const n = Buffer.from(ecOrder[crv].toString(16).padStart(2 * L, '0'), 'hex');
      const bad = [
        flippedR,
        sig.subarray(0, sig.length - 1),
        Buffer.concat([sig, Buffer.alloc(1)]),
        Buffer.alloc(0),
        Buffer.alloc(2 * L),
        Buffer.concat([sig.subarray(0, L), Buffer.alloc(L)]),
        Buffer.concat([n, sig.subarray(L)]),
        Buffer.concat([sig.subarray(0, L), n]),
        Buffer.alloc(2 * L, 0xff),
      ];
      for (const b of bad) expect(k.verify(alg, digest, b)).toBe(false);
      expect(k.verify(alg, digest, sig)).toBe(true);
    }
  });

  it('ECDSA: signatures are hedged (two signatures over one digest differ; both verify)', async () => {
    const k = await key('P-256');
    const digest = randomBytes(32);
    const a = k.sign('ES256', digest);
    const b = k.sign('ES256', digest);
    expect(a.equals(b)).toBe(false);
    expect(k.verify('ES256', digest, a) && k.verify('ES256', digest, b)).toBe(true);
  });

  it('HS256/384/512: HMAC over the supplied digest bytes, checked by WebCrypto HMAC', async () => {
    for (const [alg, hash] of [['HS256', 'SHA-256'], ['HS384', 'SHA-384'], ['HS512', 'SHA-512']] as const) {
      const k = await key('oct-256');
      const digest = randomBytes(SIGNATURE_SCHEMES[alg].digestBytes);
      const mac = k.sign(alg, digest);
      const raw = Buffer.from((k.exportPrivateJwk() as { k: string }).k, 'base64url');
      const wk = await subtle.importKey('raw', raw, { name: 'HMAC', hash }, false, ['verify']);
      expect(await subtle.verify('HMAC', wk, mac, digest)).toBe(true);
      expect(k.verify(alg, digest, mac)).toBe(true);
      expect(k.verify(alg, digest, Buffer.alloc(mac.length))).toBe(false);
    }
  });

  it('wrong digest length -> BadParameter (reason DigestLength)', async () => {
    const rsa = await key('RSA-2048');
    const e = errorOf(() => rsa.sign('RS256', Buffer.alloc(31)));
    expect(e.code).toBe('BadParameter');
    expect(e.details['reason']).toBe('DigestLength');
    expect(errorOf(() => rsa.sign('PS384', Buffer.alloc(32))).details['reason']).toBe('DigestLength');
    const p521 = await key('P-521');
    expect(errorOf(() => p521.sign('ES512', Buffer.alloc(66))).details['reason']).toBe('DigestLength');
    expect(errorOf(() => rsa.verify('RS512', Buffer.alloc(32), Buffer.alloc(256))).details['reason']).toBe('DigestLength');
  });
  it('unknown algorithm -> UnsupportedAlgorithm', async () => {
    const rsa = await key('RSA-2048');
    expect(errorOf(() => rsa.sign('RS1', Buffer.alloc(20))).code).toBe('UnsupportedAlgorithm');
    expect(errorOf(() => rsa.sign('rs256', Buffer.alloc(32))).code).toBe('UnsupportedAlgorithm');
    expect(errorOf(() => rsa.sign('RSA-OAEP', Buffer.alloc(32))).code).toBe('UnsupportedAlgorithm');
    expect(errorOf(() => rsa.encrypt('RS256', Buffer.alloc(32))).code).toBe('UnsupportedAlgorithm');
    expect(errorOf(() => rsa.wrapKey('A256GCM', Buffer.alloc(32))).code).toBe('UnsupportedAlgorithm');
  });

  it('algorithm / key type mismatch -> AlgorithmNotAllowedForKey', async () => {
    const d32 = Buffer.alloc(32);
    const p256 = await key('P-256');
    const p384 = await key('P-384');
    const k1 = await key('P-256K');
    const rsa = await key('RSA-2048');
    const oct128 = await key('oct-128');
    expect(errorOf(() => p384.sign('ES256', d32)).code).toBe('AlgorithmNotAllowedForKey');
    expect(errorOf(() => p256.sign('ES256K', d32)).code).toBe('AlgorithmNotAllowedForKey');
    expect(errorOf(() => k1.sign('ES256', d32)).code).toBe('AlgorithmNotAllowedForKey');
    expect(errorOf(() => p256.sign('RS256', d32)).code).toBe('AlgorithmNotAllowedForKey');
    expect(errorOf(() => rsa.sign('ES256', d32)).code).toBe('AlgorithmNotAllowedForKey');
    expect(errorOf(() => rsa.sign('HS256', d32)).code).toBe('AlgorithmNotAllowedForKey');
    expect(errorOf(() => oct128.sign('RS256', d32)).code).toBe('AlgorithmNotAllowedForKey');
    expect(errorOf(() => oct128.encrypt('A256GCM', d32)).code).toBe('AlgorithmNotAllowedForKey');
    expect(errorOf(() => oct128.wrapKey('A192KW', d32)).code).toBe('AlgorithmNotAllowedForKey');
    expect(errorOf(() => oct128.encrypt('RSA-OAEP', d32)).code).toBe('AlgorithmNotAllowedForKey');
    expect(errorOf(() => rsa.encrypt('A128GCM', d32)).code).toBe('AlgorithmNotAllowedForKey');
    expect(errorOf(() => p256.encrypt('RSA-OAEP-256', d32)).code).toBe('AlgorithmNotAllowedForKey');
  });
});

describe('RSA encryption and key wrap', () => {
  it('RSA-OAEP (SHA-1) and RSA-OAEP-256: ours -> WebCrypto decrypt, and WebCrypto -> ours', async () => {
    const k = await key('RSA-2048');
    const priv = k.exportPrivateJwk() as webcrypto.JsonWebKey;
    for (const [alg, hash] of [['RSA-OAEP', 'SHA-1'], ['RSA-OAEP-256', 'SHA-256']] as const) {
      const pt = randomBytes(32);
      const { ciphertext } = k.encrypt(alg, pt);
      expect(ciphertext.length).toBe(256);
      const wPriv = await subtle.importKey('jwk', { ...priv, alg: undefined }, { name: 'RSA-OAEP', hash }, false, ['decrypt']);
      expect(Buffer.from(await subtle.decrypt({ name: 'RSA-OAEP' }, wPriv, ciphertext))).toEqual(pt);

      const wPub = await subtle.importKey('jwk', k.publicJwk() as webcrypto.JsonWebKey, { name: 'RSA-OAEP', hash }, false, ['encrypt']);
      const ct2 = Buffer.from(await subtle.encrypt({ name: 'RSA-OAEP' }, wPub, pt));
      expect(k.decrypt(alg, ct2)).toEqual(pt);
      expect(k.unwrapKey(alg, ct2)).toEqual(pt);
      expect(Buffer.from(await subtle.decrypt({ name: 'RSA-OAEP' }, wPriv, k.wrapKey(alg, pt)))).toEqual(pt);

      const bad = Buffer.from(ct2);
      bad[10]! ^= 1;
      expect(errorOf(() => k.decrypt(alg, bad)).code).toBe('CiphertextInvalid');
    }
  });

  it('RSA-OAEP input size is bounded by the modulus (BadParameter)', async () => {
    const k = await key('RSA-2048');
    expect(k.encrypt('RSA-OAEP', Buffer.alloc(256 - 42)).ciphertext.length).toBe(256);
    expect(errorOf(() => k.encrypt('RSA-OAEP', Buffer.alloc(256 - 41))).details['reason']).toBe('InputLength');
    expect(errorOf(() => k.encrypt('RSA-OAEP-256', Buffer.alloc(256 - 65))).details['reason']).toBe('InputLength');
    expect(errorOf(() => k.decrypt('RSA-OAEP', Buffer.alloc(100))).details['reason']).toBe('InputLength');
  });

  it('RSA1_5: encryption works (checked by raw RSA + PKCS#1 v1.5 unpadding); decryption per runtime support', async () => {
    const k = await key('RSA-2048');
    const pt = randomBytes(24);
    const { ciphertext } = k.encrypt('RSA1_5', pt);
    // Independent check: raw RSA with the private key, then parse EME-PKCS1-v1_5 by hand.
    const em = privateDecrypt({ key: createPrivateKey({ key: { ...k.exportPrivateJwk() }, format: 'jwk' }), padding: constants.RSA_NO_PADDING }, ciphertext);
    expect(em[0]).toBe(0);
    expect(em[1]).toBe(2);
    const sep = em.indexOf(0, 2);
    expect(sep).toBeGreaterThanOrEqual(10);
    expect(em.subarray(sep + 1)).toEqual(pt);

    if (isRsa15DecryptSupported()) {
      expect(k.decrypt('RSA1_5', ciphertext)).toEqual(pt);
    } else {
      const e = errorOf(() => k.decrypt('RSA1_5', ciphertext));
      expect(e.code).toBe('NotSupported');
      expect(e.message).toContain('RSA-OAEP');
      expect(errorOf(() => k.unwrapKey('RSA1_5', ciphertext)).code).toBe('NotSupported');
    }
  });
});

describe('AES encryption', () => {
  for (const bits of [128, 192, 256] as const) {
    it(`A${bits}GCM: iv generated, tag separate, aad bound; cross-checked with WebCrypto`, async () => {
      const k = await key(`oct-${bits}`);
      const raw = Buffer.from((k.exportPrivateJwk() as { k: string }).k, 'base64url');
      const wk = await subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
      const pt = randomBytes(77);
      const aad = Buffer.from('header');
      const r = k.encrypt(`A${bits}GCM`, pt, { additionalAuthenticatedData: aad });
      expect(r.iv?.length).toBe(12);
      expect(r.authenticationTag?.length).toBe(16);
      expect(r.additionalAuthenticatedData).toEqual(aad);
      const dec = await subtle.decrypt({ name: 'AES-GCM', iv: r.iv!, additionalData: aad, tagLength: 128 }, wk, Buffer.concat([r.ciphertext, r.authenticationTag!]));
      expect(Buffer.from(dec)).toEqual(pt);

      const iv = randomBytes(12);
      const wct = Buffer.from(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad, tagLength: 128 }, wk, pt));
      const opts = { iv, additionalAuthenticatedData: aad, authenticationTag: wct.subarray(wct.length - 16) };
      expect(k.decrypt(`A${bits}GCM`, wct.subarray(0, wct.length - 16), opts)).toEqual(pt);

      expect(errorOf(() => k.decrypt(`A${bits}GCM`, wct.subarray(0, wct.length - 16), { ...opts, additionalAuthenticatedData: Buffer.from('other') })).code).toBe('CiphertextInvalid');
      const badTag = Buffer.from(opts.authenticationTag);
      badTag[0]! ^= 1;
      expect(errorOf(() => k.decrypt(`A${bits}GCM`, wct.subarray(0, wct.length - 16), { ...opts, authenticationTag: badTag })).code).toBe('CiphertextInvalid');
      expect(errorOf(() => k.decrypt(`A${bits}GCM`, r.ciphertext, { iv: randomBytes(16), authenticationTag: r.authenticationTag! })).details['reason']).toBe('IvLength');
      expect(errorOf(() => k.decrypt(`A${bits}GCM`, r.ciphertext, { iv: r.iv! })).details['reason']).toBe('TagLength');
    });

    it(`A${bits}CBC (no padding) and A${bits}CBCPAD (PKCS#7): cross-checked with WebCrypto AES-CBC`, async () => {
      const k = await key(`oct-${bits}`);
      const raw = Buffer.from((k.exportPrivateJwk() as { k: string }).k, 'base64url');
      const wk = await subtle.importKey('raw', raw, 'AES-CBC', false, ['encrypt', 'decrypt']);

      const pt = randomBytes(48);
      const r = k.encrypt(`A${bits}CBC`, pt);
      expect(r.iv?.length).toBe(16);
      expect(r.ciphertext.length).toBe(48);
      // WebCrypto always pads: its output starts with exactly the unpadded CBC ciphertext.
      const wct = Buffer.from(await subtle.encrypt({ name: 'AES-CBC', iv: r.iv! }, wk, pt));
      expect(wct.subarray(0, 48)).toEqual(r.ciphertext);
      expect(k.decrypt(`A${bits}CBC`, r.ciphertext, { iv: r.iv! })).toEqual(pt);
      expect(errorOf(() => k.encrypt(`A${bits}CBC`, randomBytes(17))).details['reason']).toBe('InputLength');

      const pt2 = randomBytes(37);
      const iv = randomBytes(16);
      const r2 = k.encrypt(`A${bits}CBCPAD`, pt2, { iv });
      expect(r2.iv).toEqual(iv);
      expect(r2.ciphertext.length).toBe(48);
      expect(Buffer.from(await subtle.decrypt({ name: 'AES-CBC', iv }, wk, r2.ciphertext))).toEqual(pt2);
      const w2 = Buffer.from(await subtle.encrypt({ name: 'AES-CBC', iv }, wk, pt2));
      expect(k.decrypt(`A${bits}CBCPAD`, w2, { iv })).toEqual(pt2);
      expect(errorOf(() => k.decrypt(`A${bits}CBCPAD`, r.ciphertext.subarray(0, 32), { iv: randomBytes(16) })).code).toBe('CiphertextInvalid');
      expect(errorOf(() => k.encrypt(`A${bits}CBC`, pt, { iv: randomBytes(12) })).details['reason']).toBe('IvLength');
      expect(errorOf(() => k.encrypt(`A${bits}CBC`, pt, { additionalAuthenticatedData: Buffer.from('x') })).details['reason']).toBe('UnexpectedParameter');
    });

    it(`A${bits}KW and CKM_AES_KEY_WRAP: unwrapped by WebCrypto AES-KW`, async () => {
      const k = await key(`oct-${bits}`);
      const raw = Buffer.from((k.exportPrivateJwk() as { k: string }).k, 'base64url');
      const wk = await subtle.importKey('raw', raw, 'AES-KW', false, ['wrapKey', 'unwrapKey']);
      for (const alg of [`A${bits}KW`, 'CKM_AES_KEY_WRAP'] as const) {
        for (const len of [16, 24, 32]) {
          const payload = randomBytes(len);
          const wrapped = k.wrapKey(alg, payload);
          expect(wrapped.length).toBe(len + 8);
          const unwrapped = await subtle.unwrapKey('raw', wrapped, wk, 'AES-KW', 'AES-GCM', true, ['encrypt']);
          expect(Buffer.from(await subtle.exportKey('raw', unwrapped))).toEqual(payload);
          const toWrap = await subtle.importKey('raw', payload, 'AES-GCM', true, ['encrypt']);
          const wWrapped = Buffer.from(await subtle.wrapKey('raw', toWrap, wk, 'AES-KW'));
          expect(k.unwrapKey(alg, wWrapped)).toEqual(payload);
          const bad = Buffer.from(wWrapped);
          bad[5]! ^= 1;
          expect(errorOf(() => k.unwrapKey(alg, bad)).code).toBe('CiphertextInvalid');
        }
      }
      expect(errorOf(() => k.wrapKey(`A${bits}KW`, randomBytes(20))).details['reason']).toBe('InputLength');
    });
  }

  it('RFC 3394 §4.1 and RFC 5649 §6 known-answer vectors (CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD)', () => {
    const kw = loadSoftwareKey({ kty: 'oct', k: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex').toString('base64url') });
    const kwOut = kw.wrapKey('A128KW', Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
    expect(kwOut.toString('hex')).toBe('1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5');
    expect(kw.wrapKey('CKM_AES_KEY_WRAP', Buffer.from('00112233445566778899aabbccddeeff', 'hex')).toString('hex')).toBe('1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5');

    const kwp = loadSoftwareKey({ kty: 'oct', k: Buffer.from('5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8', 'hex').toString('base64url') });
    const twenty = Buffer.from('c37b7e6492584340bed12207808941155068f738', 'hex');
    expect(kwp.wrapKey('CKM_AES_KEY_WRAP_PAD', twenty).toString('hex')).toBe('138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a');
    expect(kwp.unwrapKey('CKM_AES_KEY_WRAP_PAD', Buffer.from('138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a', 'hex'))).toEqual(twenty);
    const seven = Buffer.from('466f7250617369', 'hex');
    expect(kwp.wrapKey('CKM_AES_KEY_WRAP_PAD', seven).toString('hex')).toBe('afbeb0f07dfbf5419200f2ccb50bb24f');
    expect(kwp.unwrapKey('CKM_AES_KEY_WRAP_PAD', Buffer.from('afbeb0f07dfbf5419200f2ccb50bb24f', 'hex'))).toEqual(seven);
    expect(errorOf(() => kwp.unwrapKey('CKM_AES_KEY_WRAP_PAD', Buffer.from('afbeb0f07dfbf5419200f2ccb50bb24e', 'hex'))).code).toBe('CiphertextInvalid');
  });

  it('one handle serves many operations without re-importing the key', async () => {
    const k = await key('oct-256');
    for (let i = 0; i < 50; i++) {
      const r = k.encrypt('A256GCM', Buffer.from(`value ${i}`));
      expect(k.decrypt('A256GCM', r.ciphertext, { iv: r.iv!, authenticationTag: r.authenticationTag! }).toString()).toBe(`value ${i}`);
    }
  });
});

describe('random bytes and handle lifecycle', () => {
  it('returns 1..128 random bytes, BadParameter otherwise', () => {
    expect(getRandomBytes(1).length).toBe(1);
    expect(getRandomBytes(128).length).toBe(128);
    for (const n of [0, 129, 1.5, Number.NaN]) expect(errorOf(() => getRandomBytes(n)).details['reason']).toBe('Count');
  });

  it('a destroyed handle refuses to operate', async () => {
    const k = loadSoftwareKey(await generateSoftwareKey({ kty: 'oct', size: 128 }));
    k.destroy();
    expect(errorOf(() => k.encrypt('A128GCM', Buffer.from('x'))).details['reason']).toBe('KeyDestroyed');
    const ec = loadSoftwareKey(await generateSoftwareKey({ kty: 'EC', crv: 'P-256' }));
    ec.destroy();
    expect(errorOf(() => ec.sign('ES256', Buffer.alloc(32))).details['reason']).toBe('KeyDestroyed');
  });
});
