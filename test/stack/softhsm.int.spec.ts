import { createPublicKey, createHash, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pkcs11js from 'pkcs11js';
import { stackEnv } from '../support/stack-env.js';

describe('SoftHSM2 token (local stack)', () => {
  let p11: pkcs11js.PKCS11;
  let session: Buffer;

  beforeAll(() => {
    process.env.SOFTHSM2_CONF = stackEnv.softhsmConf;
    p11 = new pkcs11js.PKCS11();
    p11.load(stackEnv.softhsmModule);
    p11.C_Initialize();
    const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === 'keyledger');
    if (!slot) throw new Error('token "keyledger" not found: run npm run stack:up');
    session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    p11.C_Login(session, pkcs11js.CKU_USER, readFileSync(stackEnv.softhsmPinFile, 'utf8').trim());
  });
  afterAll(() => {
    p11.C_Logout(session);
    p11.C_CloseSession(session);
    p11.C_Finalize();
  });

  it('signs with a non-extractable EC P-256 key inside the token', () => {
    const { publicKey, privateKey } = p11.C_GenerateKeyPair(
      session,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_VERIFY, value: true },
        // DER OID of prime256v1
        { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') },
      ],
      [
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      ],
    );
    const message = Buffer.from('keyledger');
    const digest = createHash('sha256').update(message).digest();
    p11.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, privateKey);
    const signature = p11.C_Sign(session, digest, Buffer.alloc(132));
    expect(signature.length).toBe(64);

    // The public point, DER OCTET STRING wrapped: 04 41 04 X Y.
    const [attr] = p11.C_GetAttributeValue(session, publicKey, [{ type: pkcs11js.CKA_EC_POINT }]);
    const point = (attr!.value as Buffer).subarray(2);
    const jwk = { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') };
    const ok = verify('sha256', message, { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, signature);
    expect(ok).toBe(true);

    const [extractable] = p11.C_GetAttributeValue(session, privateKey, [{ type: pkcs11js.CKA_EXTRACTABLE }]);
    expect((extractable!.value as Buffer)[0]).toBe(0);
  });
});
