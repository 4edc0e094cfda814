import { createHash, createPublicKey } from 'node:crypto';
import type { CallContext, CryptoClient, ObjectRef } from '#libs/crypto-client';
import { CryptoError, CryptoErrorCode } from '#libs/crypto-client';
import { buildCertificate, type CertificateSigner } from '#libs/x509';
import type { IssuingCaRow } from '../../adapters/persistence/certificate-issuers.repository.js';
import type { IssuanceRequest, IssuedChain, IssuingAuthority } from '../certificates/issuing-authority.port.js';

/** What the authority needs of the crypto service: the CA key is created, read and used there only. */
export type CaKeyService = Pick<CryptoClient, 'createKey' | 'getKey' | 'sign'>;

/** Where the tenants' CA certificates are kept (stable across restarts and processes). */
export interface IssuingCaStore {
  issuingCa(tenantId: string): Promise<IssuingCaRow | null>;
  /** Stores `ca` unless another process stored one first; returns the one that holds. */
  saveIssuingCa(ca: IssuingCaRow): Promise<IssuingCaRow>;
}

/**
 * The crypto-service "vault" that holds the tenants' CA keys: a name no Azure vault can have
 * (vault names have no dots), so no vault's delete or purge reaches it.
 */
export const CA_KEY_VAULT = 'keyledger.issuing-ca';
export const CA_KEY_NAME = 'issuing-ca';
/** RSA-3072 in the token, signing RS256: what every TLS stack accepts for a CA. */
const CA_KEY = { kty: 'RSA-HSM', keySize: 3072 } as const;
const CA_ALGORITHM = 'RS256' as const;
/** The CA is valid for 20 years; leaves for what their policy asks. */
export const CA_VALIDITY_MONTHS = 240;

export const caSubject = (tenantId: string): string => `CN=Keyledger ${tenantId} Issuing CA, O=Keyledger`;

/** The CA key's version: derived from the tenant, so that two processes creating it at once name the same key. */
const caKeyVersion = (tenantId: string): string => createHash('sha256').update(`keyledger/issuing-ca/v1/${tenantId.toLowerCase()}`).digest('hex').slice(0, 32);

type Ca = { readonly der: Uint8Array; readonly ref: ObjectRef };

function systemContext(tenantId: string, operationName: string): CallContext {
  return { tenantId, objectId: 'system', appId: 'keyledger-vault', callerIp: '127.0.0.1', correlationId: `issuing-ca-${Date.now().toString(36)}`, requestUri: `keyledger:issuing-ca/${tenantId}`, operationName };
}

/**
 * The `Keyledger` issuer: one issuing CA per tenant, created on first use. Its private key is an
 * RSA-HSM key generated in the PKCS#11 token by the crypto service (sensitive, not exportable);
 * its self-signed certificate (basicConstraints CA, pathLen 0; keyCertSign, cRLSign) is stored
 * in the vault's database, so it is the same file across restarts. Every signature — the CA's
 * own and each leaf's — is made in the token through the crypto service's sign (audited there).
 */
export class KeyledgerIssuingAuthority implements IssuingAuthority {
  private readonly cas = new Map<string, Promise<Ca>>();

  constructor(
    private readonly crypto: CaKeyService,
    private readonly store: IssuingCaStore,
  ) {}

  async caCertificate(tenantId: string): Promise<Uint8Array> {
    return (await this.ca(tenantId.toLowerCase())).der;
  }

  async issue(request: IssuanceRequest): Promise<IssuedChain> {
    const tenantId = request.tenantId.toLowerCase();
    const ca = await this.ca(tenantId);
    const leaf = await buildCertificate(
      {
        subjectPublicKeyInfo: request.subjectPublicKeyInfo,
        subject: request.subject,
        subjectAlternativeNames: request.subjectAlternativeNames,
        keyUsage: request.keyUsage,
        extendedKeyUsage: request.extendedKeyUsage,
        validityInMonths: request.validityInMonths,
        issuerCertificate: ca.der,
      },
      this.signer(tenantId, ca.ref, 'CertificateIssue'),
    );
    return { certificates: [leaf, ca.der] };
  }

  /** The tenant's CA (tenant id lower-cased): from memory, else the database, else created (once per process at a time). */
  private ca(tenantId: string): Promise<Ca> {
    let pending = this.cas.get(tenantId);
    if (!pending) {
      pending = this.loadOrCreate(tenantId);
      this.cas.set(tenantId, pending);
      pending.catch(() => this.cas.delete(tenantId));
    }
    return pending;
  }

  private async loadOrCreate(tenantId: string): Promise<Ca> {
    const stored = await this.store.issuingCa(tenantId);
    if (stored) return { der: new Uint8Array(stored.certificate), ref: { tenant: tenantId, vault: stored.keyVault, collection: 'keys', name: stored.keyName, version: stored.keyVersion } };
    const ref: ObjectRef = { tenant: tenantId, vault: CA_KEY_VAULT, collection: 'keys', name: CA_KEY_NAME, version: caKeyVersion(tenantId) };
    const spki = await this.caKey(tenantId, ref);
    const der = await buildCertificate(
      { subjectPublicKeyInfo: spki, subject: caSubject(tenantId), keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'], validityInMonths: CA_VALIDITY_MONTHS, ca: { pathLength: 0 } },
      this.signer(tenantId, ref, 'IssuingCaCreate'),
    );
    const held = await this.store.saveIssuingCa({ tenantId, keyVault: CA_KEY_VAULT, keyName: CA_KEY_NAME, keyVersion: ref.version ?? '', certificate: Buffer.from(der), created: Math.floor(Date.now() / 1000) });
    return { der: new Uint8Array(held.certificate), ref };
  }

  /** The CA key's public half (SPKI DER): the existing key, or one generated in the token now. */
  private async caKey(tenantId: string, ref: ObjectRef): Promise<Uint8Array> {
    const ctx = systemContext(tenantId, 'IssuingCaCreate');
    let jwk;
    try {
      jwk = (await this.crypto.getKey({ ctx, ref })).key.key;
    } catch (err) {
      if (!(err instanceof CryptoError) || err.code !== CryptoErrorCode.KeyNotFound) throw err;
      try {
        jwk = (await this.crypto.createKey({ ctx, ref, kty: CA_KEY.kty, keySize: CA_KEY.keySize, keyOps: ['sign', 'verify'] })).key.key;
      } catch (createErr) {
        // Another process created the same version first: use it.
        if (!(createErr instanceof CryptoError) || createErr.code !== CryptoErrorCode.BadParameter) throw createErr;
        jwk = (await this.crypto.getKey({ ctx, ref })).key.key;
      }
    }
    const publicKey = createPublicKey({ key: { kty: 'RSA', n: Buffer.from(jwk.n).toString('base64url'), e: Buffer.from(jwk.e).toString('base64url') }, format: 'jwk' });
    return new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  }

  /** Signs in the token: the to-be-signed bytes are hashed here, the digest signed by the crypto service. */
  private signer(tenantId: string, ref: ObjectRef, operationName: string): CertificateSigner {
    return {
      algorithm: CA_ALGORITHM,
      sign: async (data) => {
        const digest = createHash('sha256').update(data).digest();
        const r = await this.crypto.sign({ ctx: systemContext(tenantId, operationName), ref, algorithm: CA_ALGORITHM, value: digest });
        return new Uint8Array(r.result);
      },
    };
  }
}
