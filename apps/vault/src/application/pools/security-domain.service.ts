import { createHash, createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import { CryptoError, CryptoErrorCode, type CryptoClient, type ObjectRef } from '#libs/crypto-client';
import { combineShares, splitSecret } from '#libs/crypto-core';
import { DomainError, fold } from '#libs/kernel';
import { ConcurrencyError, type EventStore } from '#libs/eventstore';
import { cryptoVaultOf, type VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { isActivated, securityDomainDecider, SecurityDomainErrorCode, type SecurityDomainState } from '../../domain/security-domain/security-domain.decider.js';
import { securityDomainStreamId, type SecurityDomainEvent, type SecurityDomainVia } from '../../domain/security-domain/security-domain.events.js';
import {
  checkMatches,
  domainCheck,
  DOMAIN_KEY_BYTES,
  encryptShare,
  parseDownloadRequest,
  parseUploadRequest,
  SECURITY_DOMAIN_KIND,
  SHARE_ALG,
  type SecurityDomainDocument,
} from '../../domain/security-domain/security-domain.format.js';
import { vaultStreamId, type VaultEvent } from '../../domain/vault/vault.events.js';
import { callContextOf, type Caller } from '../access/caller.js';
import type { IssuingAuthority } from '../certificates/issuing-authority.port.js';

/** The name of the pool's security-domain transfer key in crypto (not a valid Azure key name: never listed, never addressable by clients). */
const TRANSFER_KEY_NAME = 'securitydomain.transfer';
const sealPurpose = (vaultId: string): string => `keyledger/managedhsm-security-domain/v1/${vaultId}`;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * The public transfer key (JWK) the upload's shares are encrypted to, as Azure's
 * `SecurityDomainJsonWebKey`: with its certificate chain (`x5c`, standard base64 DER, leaf first)
 * and the leaf's SHA-256 thumbprint (`x5t#S256`), both required by the specification.
 */
export type TransferKey = {
  readonly kid: string;
  readonly kty: 'RSA';
  readonly key_ops: readonly string[];
  readonly n: string;
  readonly e: string;
  readonly x5c: readonly string[];
  readonly 'x5t#S256': string;
  readonly alg: typeof SHARE_ALG;
};

/** The transfer key's certificate: issued by the tenant's Keyledger CA for the key's public half (no proof of possession: the key only decrypts). */
type TransferCertificate = { readonly x5c: readonly string[]; readonly x5tS256: string };

/** A pool's domain key in the clear, for the length of one backup or restore. */
export type DomainKey = { readonly domainId: string; readonly key: Buffer };

export type SecurityDomainStatus = { readonly status: 'Success' | 'InProgress' | 'Failed'; readonly status_details: string };

const notActivated = (): DomainError =>
  new DomainError(SecurityDomainErrorCode.NotActivated, 'This Managed HSM is not activated: download its security domain (POST /securitydomain/download) or upload an existing one (POST /securitydomain/upload) first.');

/**
 * A Managed HSM pool's security domain: the pool's domain key, which wraps every full backup
 * of the pool, so that only a pool holding the same domain restores it. A pool created
 * awaiting its domain (`keyledger hsm create`) serves no key operation until it is activated,
 * either by downloading a new domain — the key is generated, split by Shamir into one share per
 * certificate with the quorum asked for, each share encrypted to its certificate — or by
 * uploading an existing one: a quorum of shares, decrypted by their holders and encrypted to
 * the pool's transfer key (an RSA-HSM key in the crypto service's token, whose private part
 * never leaves it). The domain key is kept sealed by the crypto service (its root) in the
 * pool's `managedhsm-sd-{vaultId}` stream.
 */
export class SecurityDomainService {
  /** Activation per pool id: an activated pool stays so (cached for good), others are read again after a second. */
  private readonly cache = new Map<string, { state: SecurityDomainState; version: number; until: number }>();

  /** The transfer key's certificate per pool and key version, issued once per process. */
  private readonly certificates = new Map<string, Promise<TransferCertificate>>();

  constructor(
    private readonly store: EventStore,
    private readonly crypto: CryptoClient,
    private readonly issuer: Pick<IssuingAuthority, 'issue'>,
  ) {}

  async state(pool: VaultRecord): Promise<{ state: SecurityDomainState; version: number }> {
    const hit = this.cache.get(pool.vaultId);
    if (hit && hit.until > Date.now()) return hit;
    const created = (await this.store.readStream<VaultEvent>(vaultStreamId(pool.nameKey, 'managedHsm'))).filter((e) => e.type === 'VaultCreated' && e.data.vaultId === pool.vaultId).at(-1);
    const pending = created?.type === 'VaultCreated' && created.data.securityDomain === 'pending';
    const events = await this.store.readStream<SecurityDomainEvent>(securityDomainStreamId(pool.vaultId));
    const state = fold(securityDomainDecider.evolve, securityDomainDecider.initialState(pending), events);
    const entry = { state, version: events.length, until: state.status === 'pending' ? Date.now() + 1_000 : Number.MAX_SAFE_INTEGER };
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(pool.vaultId, entry);
    return entry;
  }

  async activated(pool: VaultRecord): Promise<boolean> {
    return isActivated((await this.state(pool)).state);
  }

  async assertActivated(pool: VaultRecord): Promise<void> {
    if (!(await this.activated(pool))) throw notActivated();
  }

  /** `POST /securitydomain/download`: generates the domain, answers it as shares, activates the pool. */
  async download(pool: VaultRecord, body: unknown, caller: Caller): Promise<SecurityDomainDocument> {
    const { recipients, required } = parseDownloadRequest(body);
    const { state, version } = await this.state(pool);
    if (state.status !== 'pending') throw new DomainError(SecurityDomainErrorCode.AlreadyActivated, 'This Managed HSM is already activated: its security domain cannot be downloaded again.');
    const key = randomBytes(DOMAIN_KEY_BYTES);
    try {
      const domainId = randomUUID();
      const shares = splitSecret(key, recipients.length, required);
      const document: SecurityDomainDocument = {
        kind: SECURITY_DOMAIN_KIND,
        version: 1,
        pool: pool.name,
        domainId,
        required,
        check: domainCheck(key, domainId),
        shares: recipients.map((r, i) => {
          const s = shares[i];
          if (s === undefined) throw new Error('fewer shares than certificates');
          const enc = encryptShare(r, s.y);
          s.y.fill(0);
          return { index: s.x, kid: r.kid, 'x5t#S256': r.x5tS256, alg: SHARE_ALG, enc };
        }),
      };
      await this.activate(pool, version, { domainId, key, via: 'download', required, shares: recipients.length }, caller);
      return document;
    } finally {
      key.fill(0);
    }
  }

  /** `GET /securitydomain/download/pending`: from the pool's state, so any instance answers it. */
  async downloadStatus(pool: VaultRecord): Promise<SecurityDomainStatus> {
    const { state } = await this.state(pool);
    if (state.status === 'active' && state.via === 'download') return { status: 'Success', status_details: 'The security domain was downloaded; the Managed HSM is activated.' };
    return { status: 'Failed', status_details: state.status === 'pending' ? 'The security domain has not been downloaded.' : 'This Managed HSM was activated without a security domain download.' };
  }

  /** `GET /securitydomain/upload/pending`. */
  async uploadStatus(pool: VaultRecord): Promise<SecurityDomainStatus> {
    const { state } = await this.state(pool);
    if (state.status === 'active' && state.via === 'upload') return { status: 'Success', status_details: 'The security domain was restored; the Managed HSM is activated.' };
    return { status: 'Failed', status_details: state.status === 'pending' ? 'No security domain has been uploaded.' : 'This Managed HSM was not activated by a security domain upload.' };
  }

  /** `GET /securitydomain/upload`: the pool's transfer key (created in the token on first use). */
  async transferKey(pool: VaultRecord, caller: Caller): Promise<TransferKey> {
    const ctx = callContextOf(caller);
    let key;
    try {
      key = (await this.crypto.getKey({ ctx, ref: this.transferRef(pool, '') })).key;
    } catch (err) {
      if (!(err instanceof CryptoError && err.code === CryptoErrorCode.KeyNotFound)) throw err;
      key = (await this.crypto.createKey({ ctx, ref: this.transferRef(pool, randomBytes(16).toString('hex')), kty: 'RSA-HSM', keySize: 3072, keyOps: ['decrypt', 'unwrapKey'] })).key;
    }
    const n = key.key.n.toString('base64url');
    const e = key.key.e.toString('base64url');
    const cert = await this.certificate(pool, key.ref.version ?? '', n, e);
    return { kid: `securitydomain-transfer/${key.ref.version}`, kty: 'RSA', key_ops: ['wrapKey', 'encrypt'], n, e, x5c: cert.x5c, 'x5t#S256': cert.x5tS256, alg: SHARE_ALG };
  }

  private certificate(pool: VaultRecord, version: string, n: string, e: string): Promise<TransferCertificate> {
    const id = `${pool.vaultId}/${version}`;
    let pending = this.certificates.get(id);
    if (!pending) {
      const spki = createPublicKey({ key: { kty: 'RSA', n, e }, format: 'jwk' }).export({ format: 'der', type: 'spki' });
      pending = this.issuer
        .issue({
          tenantId: pool.tenantId,
          vaultName: pool.name,
          certificateName: TRANSFER_KEY_NAME,
          subjectPublicKeyInfo: new Uint8Array(spki),
          subject: `CN=${pool.name} security domain transfer key`,
          subjectAlternativeNames: {},
          keyUsage: ['keyEncipherment', 'dataEncipherment'],
          extendedKeyUsage: [],
          validityInMonths: 12,
        })
        .then((chain) => {
          const leaf = chain.certificates[0];
          if (leaf === undefined) throw new Error('the issuing CA returned no certificate');
          return { x5c: chain.certificates.map((c) => Buffer.from(c).toString('base64')), x5tS256: createHash('sha256').update(leaf).digest('base64url') };
        });
      pending.catch(() => this.certificates.delete(id));
      if (this.certificates.size > 10_000) this.certificates.clear();
      this.certificates.set(id, pending);
    }
    return pending;
  }

  /** `POST /securitydomain/upload`: a quorum of shares restores the domain into a pool awaiting one. */
  async upload(pool: VaultRecord, body: unknown, caller: Caller): Promise<void> {
    const { document, shares } = parseUploadRequest(body);
    const { state, version } = await this.state(pool);
    if (state.status !== 'pending') throw new DomainError(SecurityDomainErrorCode.AlreadyActivated, 'This Managed HSM is already activated: a security domain can only be uploaded into a pool awaiting one.');
    if (shares.length < document.required) {
      throw new DomainError(SecurityDomainErrorCode.BadSecurityDomain, `The security domain needs a quorum of ${document.required} shares; ${shares.length} were uploaded.`);
    }
    const ctx = callContextOf(caller);
    const plain: { x: number; y: Buffer }[] = [];
    let key: Buffer | undefined;
    try {
      for (const s of shares) {
        let y: Buffer;
        try {
          y = (await this.crypto.decrypt({ ctx, ref: this.transferRef(pool, ''), algorithm: SHARE_ALG, value: s.enc })).result;
        } catch (err) {
          if (err instanceof CryptoError && (err.code === CryptoErrorCode.CiphertextInvalid || err.code === CryptoErrorCode.BadParameter || err.code === CryptoErrorCode.KeyNotFound)) {
            throw new DomainError(SecurityDomainErrorCode.BadSecurityDomain, `Share ${s.index} could not be decrypted with this pool's transfer key (GET /securitydomain/upload).`);
          }
          throw err;
        }
        if (y.length !== DOMAIN_KEY_BYTES) throw new DomainError(SecurityDomainErrorCode.BadSecurityDomain, `Share ${s.index} is not a share of a security domain key.`);
        plain.push({ x: s.index, y });
      }
      key = combineShares(plain);
      if (!checkMatches(key, document.domainId, document.check)) {
        throw new DomainError(SecurityDomainErrorCode.BadSecurityDomain, 'The shares do not reconstruct this security domain (wrong, altered or too few shares).');
      }
      await this.activate(pool, version, { domainId: document.domainId, key, via: 'upload', required: null, shares: null }, caller);
    } finally {
      for (const p of plain) p.y.fill(0);
      key?.fill(0);
    }
  }

  /**
   * The pool's domain key in the clear (the caller zeroes it when done). A pool activated
   * without a domain (bootstrap `dev`, older pools) gets one generated now; a pool awaiting
   * its domain has none.
   */
  async domainKey(pool: VaultRecord, caller: Caller): Promise<DomainKey> {
    let { state, version } = await this.state(pool);
    if (state.status === 'pending') throw notActivated();
    if (state.status === 'legacy') {
      const key = randomBytes(DOMAIN_KEY_BYTES);
      try {
        await this.activate(pool, version, { domainId: randomUUID(), key, via: 'bootstrap', required: null, shares: null }, { ...caller, audit: undefined });
      } catch (err) {
        key.fill(0);
        // Another request generated it first: use that one.
        this.cache.delete(pool.vaultId);
        if (!(err instanceof ConcurrencyError)) throw err;
      }
      key.fill(0);
      ({ state, version } = await this.state(pool));
    }
    if (state.status !== 'active') throw notActivated();
    const opened = await this.crypto.openBackup({ ctx: callContextOf(caller), purpose: sealPurpose(pool.vaultId), blob: Buffer.from(state.sealedKey, 'base64') });
    return { domainId: state.domainId, key: opened.payload };
  }

  private transferRef(pool: VaultRecord, version: string): ObjectRef {
    return { tenant: pool.tenantId, vault: cryptoVaultOf(pool), collection: 'keys', name: TRANSFER_KEY_NAME, version };
  }

  private async activate(pool: VaultRecord, version: number, d: { domainId: string; key: Buffer; via: SecurityDomainVia; required: number | null; shares: number | null }, caller: Caller): Promise<void> {
    const sealed = await this.crypto.sealBackup({ ctx: callContextOf(caller), purpose: sealPurpose(pool.vaultId), payload: d.key });
    const { state } = await this.state(pool);
    const events = securityDomainDecider.decide(
      { type: 'ActivateSecurityDomain', data: { vaultId: pool.vaultId, domainId: d.domainId, sealedKey: sealed.blob.toString('base64'), via: d.via, required: d.required, shares: d.shares, now: nowSeconds() } },
      state,
    );
    const audit = caller.audit;
    await this.store.appendToStream<SecurityDomainEvent>(securityDomainStreamId(pool.vaultId), version === 0 ? 'no_stream' : version, events, {
      metadata: { actor: caller.objectId, tenant: pool.tenantId, correlationId: caller.correlationId },
      object: { vault: pool.nameKey, collection: null, name: pool.nameKey },
      ...(audit ? { audit: [audit.forCommit(202)] } : {}),
    });
    audit?.committed();
    this.cache.delete(pool.vaultId);
  }
}
