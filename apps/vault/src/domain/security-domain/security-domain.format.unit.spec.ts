import { constants, createHash, generateKeyPairSync, privateDecrypt, type KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import forge from 'node-forge';
import { combineShares, splitSecret } from '#libs/crypto-core';
import { DomainError } from '#libs/kernel';
import { checkMatches, domainCheck, encryptShare, parseDownloadRequest, parseUploadRequest, SECURITY_DOMAIN_KIND, SECURITY_DOMAIN_UPLOAD_KIND } from './security-domain.format.js';

type Holder = { jwk: Record<string, unknown>; privateKey: KeyObject };

/** An RSA certificate as the security domain download takes it: a JWK with x5c and x5t#S256. */
function holder(cn: string): Holder {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  cert.setIssuer([{ name: 'commonName', value: cn }]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()), forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
  const pub = publicKey.export({ format: 'jwk' });
  return {
    jwk: { kid: cn, kty: 'RSA', key_ops: ['encrypt', 'wrapKey'], n: pub.n, e: pub.e, x5c: [der.toString('base64')], 'x5t#S256': createHash('sha256').update(der).digest('base64url'), alg: 'RSA-OAEP-256' },
    privateKey,
  };
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof DomainError ? `${err.code}: ${err.message}` : String(err);
  }
};

describe('security domain download request and shares', () => {
  let holders: Holder[] = [];
  beforeAll(() => {
    holders = ['one', 'two', 'three', 'four'].map(holder);
  });

  it('takes 3 certificates and a quorum of 2; each share encrypted to one certificate opens with its private key only', () => {
    const { recipients, required } = parseDownloadRequest({ certificates: holders.slice(0, 3).map((h) => h.jwk), required: 2 });
    expect(required).toBe(2);
    expect(recipients.map((r) => r.kid)).toEqual(['one', 'two', 'three']);
    const secret = Buffer.alloc(32, 7);
    const shares = splitSecret(secret, 3, 2);
    const enc = shares.map((s, i) => encryptShare(recipients[i]!, s.y));
    const open = (i: number): Buffer => privateDecrypt({ key: holders[i]!.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(enc[i]!, 'base64url'));
    expect(combineShares([{ x: 1, y: open(0) }, { x: 3, y: open(2) }]).equals(secret)).toBe(true);
    expect(() => privateDecrypt({ key: holders[1]!.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(enc[0]!, 'base64url'))).toThrow();
  });

  it('refuses 2 certificates, a quorum above their number or below 2, a duplicate, a wrong key type, an x5c of another key, a wrong thumbprint', () => {
    const [a, b, c, d] = holders.map((h) => h.jwk) as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    expect(code(() => parseDownloadRequest({ certificates: [a, b], required: 2 }))).toMatch(/^BadParameter: .*between 3 and 10 certificates; 2 were given/);
    expect(code(() => parseDownloadRequest({ certificates: [a, b, c], required: 4 }))).toMatch(/^BadParameter: "required"/);
    expect(code(() => parseDownloadRequest({ certificates: [a, b, c], required: 1 }))).toMatch(/^BadParameter: "required"/);
    expect(code(() => parseDownloadRequest({ certificates: [a, b, a], required: 2 }))).toMatch(/must all be different/);
    expect(code(() => parseDownloadRequest({ certificates: [a, b, { ...c, kty: 'EC' }], required: 2 }))).toMatch(/kty must be RSA/);
    expect(code(() => parseDownloadRequest({ certificates: [a, b, { ...c, x5c: d.x5c }], required: 2 }))).toMatch(/does not hold the key/);
    expect(code(() => parseDownloadRequest({ certificates: [a, b, { ...c, 'x5t#S256': d['x5t#S256'] }], required: 2 }))).toMatch(/thumbprint/);
    expect(code(() => parseDownloadRequest({ certificates: [a, b, { ...c, x5c: undefined }], required: 2 }))).toMatch(/x5c/);
    expect(code(() => parseDownloadRequest('nope'))).toMatch(/^BadParameter/);
  });

  it('the check value tells the right domain key from a wrong one', () => {
    const key = Buffer.alloc(32, 1);
    const check = domainCheck(key, 'd-1');
    expect(checkMatches(key, 'd-1', check)).toBe(true);
    expect(checkMatches(Buffer.alloc(32, 2), 'd-1', check)).toBe(false);
    expect(checkMatches(key, 'd-2', check)).toBe(false);
  });

  it('parses an upload of the downloaded document plus shares; refuses other kinds and duplicate indexes', () => {
    const document = { kind: SECURITY_DOMAIN_KIND, version: 1, pool: 'p', domainId: '6b1d2c3e-4f50-4a61-8b72-9c83d4e5f607', required: 2, check: 'abc', shares: [1, 2, 3].map((index) => ({ index, enc: 'AAAA' })) };
    const upload = (shares: unknown[], kind = SECURITY_DOMAIN_UPLOAD_KIND): unknown => ({ value: JSON.stringify({ kind, version: 1, securityDomain: JSON.stringify(document), shares }) });
    const parsed = parseUploadRequest(upload([{ index: 1, enc: 'AQID' }, { index: 3, enc: 'BAUG' }]));
    expect(parsed.document.required).toBe(2);
    expect(parsed.shares.map((s) => [s.index, s.enc.toString('hex')])).toEqual([[1, '010203'], [3, '040506']]);
    expect(code(() => parseUploadRequest(upload([{ index: 1, enc: 'AQID' }, { index: 1, enc: 'AQID' }])))).toMatch(/same index/);
    expect(code(() => parseUploadRequest(upload([{ index: 1, enc: 'AQID' }], 'azure')))).toMatch(/^BadSecurityDomain/);
    expect(code(() => parseUploadRequest({ value: '{' }))).toMatch(/not valid JSON/);
  });
});
