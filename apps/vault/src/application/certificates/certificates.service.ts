import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { CryptoError, CryptoErrorCode, type CryptoClient, type ObjectRef } from '#libs/crypto-client';
import { open as openEnvelope, seal, type ObjectIdentity } from '#libs/crypto-core';
import { handleCommand, RETRY_HOT_STREAMS, type EventStore, type ExpectedVersion } from '#libs/eventstore';
import { DomainError } from '#libs/kernel';
import {
  buildCertificate,
  buildCsr,
  describeKey,
  leafMatchesCsr,
  parseCertificate,
  parsePem,
  parsePkcs12,
  toPem,
  toPkcs12,
  x5t,
  X509Error,
  type CertificateMaterial,
} from '#libs/x509';
import { createPrivateKey } from 'node:crypto';
import type { CertificatesRepository } from '../../adapters/persistence/certificates.repository.js';
import { cryptoVaultOf, type VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import {
  assertActive,
  assertCanStart,
  assertPendingInProgress,
  CertificateErrorCode,
  certificateNotFound,
  decideDelete,
  decidePurge,
  decideRecover,
  decideUpdate,
  deletedCertificateNotFound,
  evolveCertificate,
  pendingNotFound,
  versionOf,
  type CertificateState,
} from '../../domain/certificate/certificate.decider.js';
import { certificateStreamId, type CertificateEvent, type CertificatePurgeReason, type CertificateVersionRecord, type PendingRecord } from '../../domain/certificate/certificate.events.js';
import { parsePolicy, PEM, type CreateCertificateInput, type ImportCertificateInput, type PolicyRecord, type UpdateCertificateInput } from '../../domain/certificate/certificate.rules.js';
import type { Tags } from '../../domain/key/key.rules.js';
import { nameKey as keyOf } from '../../domain/secret/secret.rules.js';
import { VaultErrorCode } from '../../domain/vault.errors.js';
import { callContextOf, type Caller } from '../access/caller.js';
import type { KeysService } from '../keys/keys.service.js';
import { decodeSkipToken, toPage, type Page } from '../secrets/paging.js';
import type { SecretsService } from '../secrets/secrets.service.js';
import { cryptoSigner, spkiOf } from './certificate-signer.js';
import { certificateSystemCaller } from './certificate-system-caller.js';
import type { IssuerDirectory, IssuingAuthority } from './issuing-authority.port.js';

/** A certificate as answered: its state and the version asked for. */
export type CertificateView = { readonly name: string; readonly state: CertificateState; readonly version: CertificateVersionRecord };
export type PendingView = { readonly name: string; readonly pending: PendingRecord; readonly target: boolean; readonly preserveCertOrder?: boolean };

/** The operation as answered, from the state that holds it. */
function pendingView(state: CertificateState, name: string, pending: PendingRecord = state.pending!): PendingView {
  return { name: state.name ?? name, pending, target: pending.status === 'completed', preserveCertOrder: versionOf(state, pending.version)?.preserveCertOrder === true };
}

const RETRY = RETRY_HOT_STREAMS;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const newId = (): string => randomBytes(16).toString('hex');
/** Azure back-dates a new certificate's notBefore by ten minutes (recorded sessions). */
const BACKDATE_SECONDS = 600;
/** Pending keys sealed before they had a data key of their own were sealed as backup blobs under this purpose (read only). */
const LEGACY_PENDING_KEY_PURPOSE = 'keyledger/certificate-pending-key/v1';
const BACKUP_MAGIC = Buffer.from('KeyledgerCertificateBackupV1.', 'ascii');
const BACKUP_PURPOSE = 'keyledger/vault-certificate-backup/v1';

/** A caller without the request's audit record: the certificate's own append carries it (one record per request). */
function quiet(caller: Caller): Caller {
  const { audit: _a, ...rest } = caller;
  return rest;
}

const KEY_OPS_RSA = ['sign', 'verify', 'wrapKey', 'unwrapKey', 'encrypt', 'decrypt'];
const KEY_OPS_EC = ['sign', 'verify'];

export const invalidCertificate = (message: string): DomainError => new DomainError(CertificateErrorCode.CertificateInvalid, message);

function fromX509(err: unknown): never {
  if (err instanceof X509Error) {
    switch (err.code) {
      case 'WrongPassword':
        throw invalidCertificate('Invalid password or the PKCS#12 content is corrupted.');
      case 'MissingPrivateKey':
        throw invalidCertificate('The certificate value does not contain a private key.');
      case 'KeyMismatch':
        throw invalidCertificate('The private key does not match the certificate.');
      default:
        throw invalidCertificate(err.message);
    }
  }
  throw err;
}

/** The version fields of an issued certificate. */
function issuedFields(der: Uint8Array): { cer: string; x5t: string; nbf: number; exp: number } {
  const c = parseCertificate(der);
  return { cer: Buffer.from(der).toString('base64'), x5t: x5t(der), nbf: Math.floor(new Date(c.validFrom).getTime() / 1000), exp: Math.floor(new Date(c.validTo).getTime() / 1000) };
}

/**
 * Certificates: a certificate version is a key version (the managed key, in the crypto service),
 * a secret version (the managed secret: PKCS#12 or PEM of the chain, with the private key when
 * exportable) and the certificate's own events (policy, pending operation, public certificate),
 * all three with one version id. Order of a write: key → secret → the certificate's append,
 * which carries the request's audit record; a failure before the last step leaves managed
 * versions the certificate never lists, and a retry makes new ones.
 */
export class CertificatesService {
  constructor(
    private readonly store: EventStore,
    private readonly repo: CertificatesRepository,
    private readonly keys: KeysService,
    private readonly secrets: SecretsService,
    private readonly crypto: CryptoClient,
    private readonly issuers: IssuerDirectory,
    private readonly authority?: IssuingAuthority,
    private readonly logger?: Logger,
  ) {}

  /** Issuances under way in this process, by vault id and name key. */
  private readonly issuing = new Map<string, Promise<boolean>>();

  // ---------- reads (pure: they never append) ----------

  async get(vault: VaultRecord, name: string, version: string | null): Promise<CertificateView> {
    const { state } = await this.repo.loadState(vault.vaultId, keyOf(name));
    if (state.status !== 'active') throw certificateNotFound(version ? `${name}/${version}` : name);
    const v = versionOf(state, version);
    if (!v) throw certificateNotFound(version ? `${name}/${version}` : name);
    return { name: state.name ?? name, state, version: v };
  }

  async getDeleted(vault: VaultRecord, name: string): Promise<CertificateView> {
    const { state } = await this.repo.loadState(vault.vaultId, keyOf(name));
    const v = versionOf(state, null);
    if (state.status !== 'deleted' || !v) throw deletedCertificateNotFound(name);
    return { name: state.name ?? name, state, version: v };
  }

  async getPolicy(vault: VaultRecord, name: string): Promise<{ name: string; policy: PolicyRecord }> {
    const { state } = await this.repo.loadState(vault.vaultId, keyOf(name));
    if (state.status !== 'active' || !state.policy) throw certificateNotFound(name);
    return { name: state.name ?? name, policy: state.policy };
  }

  async getPending(vault: VaultRecord, name: string): Promise<PendingView> {
    const { state } = await this.repo.loadState(vault.vaultId, keyOf(name));
    if (state.status !== 'active' || !state.pending) throw pendingNotFound(name);
    return pendingView(state, name);
  }

  async list(vault: VaultRecord, skipToken: string | undefined, limit: number, status: 'active' | 'deleted', includePending: boolean): Promise<Page<CertificateView>> {
    const rows = await this.repo.list(vault.vaultId, status, decodeSkipToken(skipToken), limit + 1);
    const page = toPage(rows, limit, (r) => r.nameKey);
    const items: CertificateView[] = [];
    for (const r of page.items) {
      const latest = versionOf(r.state, null);
      if (!latest) continue;
      // A certificate whose only version is pending is listed with includePending only.
      const shown = latest.cer !== null || includePending ? latest : [...r.state.versions].reverse().find((x) => x.cer !== null);
      if (shown) items.push({ name: r.state.name ?? r.nameKey, state: r.state, version: shown });
    }
    return { items, next: page.next };
  }

  async listVersions(vault: VaultRecord, name: string, skipToken: string | undefined, limit: number): Promise<Page<CertificateView>> {
    const { state } = await this.repo.loadState(vault.vaultId, keyOf(name));
    if (state.status !== 'active') return { items: [], next: null };
    const after = decodeSkipToken(skipToken);
    const sorted = [...state.versions].sort((a, b) => a.version.localeCompare(b.version)).filter((x) => x.version > after);
    const page = toPage(sorted.slice(0, limit + 1), limit, (x) => x.version);
    return { items: page.items.map((x) => ({ name: state.name ?? name, state, version: x })), next: page.next };
  }

  // ---------- create, pending, merge ----------

  async create(vault: VaultRecord, name: string, input: CreateCertificateInput, caller: Caller): Promise<PendingView> {
    const nameKey = keyOf(name);
    const { state } = await this.repo.loadState(vault.vaultId, nameKey);
    assertCanStart(state, name);
    const policy = input.policy;
    const resolution = await this.issuers.resolve(vault.vaultId, policy.issuer.name);
    if (resolution.kind === 'not-found') throw new DomainError(CertificateErrorCode.CertificateIssuerNotFound, `issuer ${policy.issuer.name} not found`, { name: policy.issuer.name });
    if (resolution.kind === 'keyledger' && !this.authority) throw new DomainError(CertificateErrorCode.CertificateIssuerNotFound, `issuer ${policy.issuer.name} not found`, { name: policy.issuer.name });
    const version = newId();
    if (caller.audit) caller.audit.objectVersion = version;
    const now = nowSeconds();
    const inner = quiet(caller);
    const kp = policy.key_props;
    // The key: made here when exportable (the managed secret carries it), in the crypto service otherwise.
    let privateKey: Uint8Array | null = null;
    let jwkJson: string | undefined;
    const keyOps = kp.kty.startsWith('RSA') ? KEY_OPS_RSA : KEY_OPS_EC;
    if (kp.exportable) {
      const pair = kp.kty.startsWith('RSA') ? generateKeyPairSync('rsa', { modulusLength: kp.key_size ?? 2048 }) : generateKeyPairSync('ec', { namedCurve: kp.crv === 'P-256K' ? 'secp256k1' : (kp.crv ?? 'P-256') });
      privateKey = new Uint8Array(pair.privateKey.export({ format: 'der', type: 'pkcs8' }));
      const jwk = pair.privateKey.export({ format: 'jwk' });
      jwkJson = JSON.stringify({ ...jwk, kty: kp.kty.startsWith('RSA') ? 'RSA' : 'EC', ...(jwk.crv === 'secp256k1' ? { crv: 'P-256K' } : {}), key_ops: keyOps });
    }
    const key = await this.keys.createForCertificate(
      vault,
      name,
      version,
      { kty: kp.kty, keySize: kp.key_size ?? null, crv: kp.crv ?? null, keyOps, ...(jwkJson !== undefined ? { jwkJson } : {}) },
      { enabled: true, exportable: kp.exportable },
      inner,
    );
    const spki = spkiOf(key.kty, key.jwk ?? {});
    const signer = cryptoSigner(this.crypto, this.keyRef(vault, nameKey, version), { kty: key.kty, crv: key.crv }, inner);
    const subject = {
      subjectPublicKeyInfo: spki,
      subject: policy.x509_props.subject,
      subjectAlternativeNames: { dnsNames: policy.x509_props.sans?.dns_names ?? [], emails: policy.x509_props.sans?.emails ?? [], upns: policy.x509_props.sans?.upns ?? [] },
      keyUsage: policy.x509_props.key_usage,
      extendedKeyUsage: policy.x509_props.ekus,
    };
    let csr: Uint8Array;
    try {
      csr = await buildCsr(subject, signer);
    } catch (err) {
      fromX509(err);
    }
    const requestId = newId();
    const record: CertificateVersionRecord = { version, cer: null, x5t: null, enabled: false, nbf: null, exp: null, tags: input.tags === null ? null : { ...input.tags }, created: now, updated: now, ...(input.preserveCertOrder ? { preserveCertOrder: true as const } : {}) };
    const started: PendingRecord = {
      version,
      requestId,
      issuerName: policy.issuer.name,
      csr: Buffer.from(csr).toString('base64'),
      cancellationRequested: false,
      status: 'inProgress',
      statusDetails: 'Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.',
      error: null,
    };
    const events: CertificateEvent[] = [{ type: 'CertificatePolicySet', data: { vaultId: vault.vaultId, name, policy } }];
    if (resolution.kind === 'unreachable') {
      events.push(
        { type: 'CertificateOperationStarted', data: { pending: started, record } },
        { type: 'CertificateOperationFailed', data: { version, code: 'IssuerUnreachable', message: `The issuer provider ${resolution.provider} cannot be reached from this vault.`, at: now } },
      );
    } else {
      // An exportable key waits for its certificate sealed under a data key of its own (ciphertext only, never published).
      const sealed = privateKey ? await this.sealPendingKey(vault, nameKey, version, privateKey, inner) : undefined;
      privateKey?.fill(0);
      const details = resolution.kind === 'unknown' ? 'Pending certificate created. Please Perform Merge to complete the request.' : started.statusDetails;
      events.push({ type: 'CertificateOperationStarted', data: { pending: { ...started, statusDetails: details, ...(sealed ?? {}) }, record } });
    }
    let after: CertificateState;
    try {
      after = await this.append(vault, nameKey, events, caller, 202, (s) => assertCanStart(s, name));
    } catch (err) {
      // Nothing refers to the sealed key: shred it now rather than at purge.
      await this.shredPendingKeys(vault, nameKey, version, inner).catch(() => undefined);
      throw err;
    }
    // Self and Keyledger issue off the request path: the create answers `inProgress` (as Azure's
    // does, and as the Python poller requires) and a GET of the operation stays a pure read.
    if (resolution.kind === 'self' || resolution.kind === 'keyledger') this.issueInBackground(vault, after.name ?? name);
    return pendingView(after, name);
  }

  /** Starts the issuance of the pending version in this process without waiting for it; a failure is logged and the lifetime pass retries it. */
  private issueInBackground(vault: VaultRecord, name: string): void {
    this.issuePending(vault, name).catch((err: unknown) => {
      this.logger?.warn({ vault: vault.nameKey, certificate: name, err: err instanceof Error ? err.message : String(err) }, 'certificate issuance failed; the scheduler retries it');
    });
  }

  /**
   * Issues a pending `Self` or `Keyledger` certificate, off every request: started by the create
   * (in the background) and retried by the lifetime scheduler's pass for operations a restart
   * or a failure left in progress. The certificate is signed through the crypto service (Self:
   * by its own key; Keyledger: by the tenant CA), the managed secret is written, then
   * `CertificateIssued`, committed with its own audit record as the system principal
   * (`CertificateIssue`) unless `caller` carries one. One issuance at a time per certificate in
   * this process; resolves true when this call issued (or failed) the operation.
   */
  issuePending(vault: VaultRecord, name: string, caller?: Caller): Promise<boolean> {
    const nameKey = keyOf(name);
    const key = `${vault.vaultId}/${nameKey}`;
    const running = this.issuing.get(key);
    if (running) return running;
    const work = this.issueNow(vault, name, caller ?? certificateSystemCaller(vault, 'CertificateIssue', name, 'certificate-issuance')).finally(() => this.issuing.delete(key));
    this.issuing.set(key, work);
    return work;
  }

  /** Resolves once the issuances under way in this process have ended (shutdown). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.issuing.values()]);
  }

  private async issueNow(vault: VaultRecord, name: string, caller: Caller): Promise<boolean> {
    const nameKey = keyOf(name);
    const { state } = await this.repo.loadState(vault.vaultId, nameKey);
    const p = state.pending;
    if (state.status !== 'active' || !p || p.status !== 'inProgress' || p.cancellationRequested || !state.policy) return false;
    const resolution = await this.issuers.resolve(vault.vaultId, p.issuerName);
    if (resolution.kind !== 'self' && (resolution.kind !== 'keyledger' || !this.authority)) return false;
    const policy = state.policy;
    const inner = quiet(caller);
    const keyView = await this.keys.get(vault, name, p.version, inner);
    const spki = spkiOf(keyView.kty, keyView.jwk ?? {});
    const signer = cryptoSigner(this.crypto, this.keyRef(vault, nameKey, p.version), { kty: keyView.kty, crv: keyView.crv }, inner);
    const sans = { dnsNames: policy.x509_props.sans?.dns_names ?? [], emails: policy.x509_props.sans?.emails ?? [], upns: policy.x509_props.sans?.upns ?? [] };
    const record = versionOf(state, p.version)!;
    const now = nowSeconds();
    let chain: Uint8Array[];
    try {
      chain =
        resolution.kind === 'self'
          ? [
              await buildCertificate(
                {
                  subjectPublicKeyInfo: spki,
                  subject: policy.x509_props.subject,
                  subjectAlternativeNames: sans,
                  keyUsage: policy.x509_props.key_usage,
                  extendedKeyUsage: policy.x509_props.ekus,
                  validityInMonths: policy.x509_props.validity_months,
                  notBefore: new Date((record.created - BACKDATE_SECONDS) * 1000),
                },
                signer,
              ),
            ]
          : [
              ...(
                await this.authority!.issue({
                  tenantId: vault.tenantId,
                  vaultName: vault.name,
                  certificateName: name,
                  subjectPublicKeyInfo: spki,
                  subject: policy.x509_props.subject,
                  subjectAlternativeNames: sans,
                  keyUsage: policy.x509_props.key_usage,
                  extendedKeyUsage: policy.x509_props.ekus,
                  validityInMonths: policy.x509_props.validity_months,
                })
              ).certificates,
            ];
    } catch (err) {
      if (!(err instanceof X509Error)) throw err;
      await this.append(vault, nameKey, [{ type: 'CertificateOperationFailed', data: { version: p.version, code: 'BadParameter', message: err.message, at: now } }], caller, 200, (s) => {
        if (s.pending?.version !== p.version || s.pending.status !== 'inProgress') throw pendingNotFound(name);
      });
      await this.shredPendingKeys(vault, nameKey, p.version, inner).catch(() => undefined);
      return true;
    }
    const privateKey = await this.openPendingKey(vault, nameKey, p, inner);
    const f = issuedFields(chain[0]!);
    const enabled = policy.attributes.enabled;
    try {
      await this.setSecret(vault, name, p.version, policy, { privateKey, chain }, enabled, f, inner, record.preserveCertOrder === true);
    } finally {
      privateKey?.fill(0);
    }
    await this.append(vault, nameKey, [{ type: 'CertificateIssued', data: { version: p.version, ...f, enabled, issued: now, origin: resolution.kind } }], caller, 200, (s) => {
      if (s.pending?.version !== p.version || s.pending.status !== 'inProgress') throw pendingNotFound(name);
    });
    // The key now lives in the managed secret (under the secret's own data key): the sealed copy in the log is shredded.
    await this.shredPendingKeys(vault, nameKey, p.version, inner).catch(() => undefined);
    return true;
  }

  /** Cancels the operation in progress; its sealed key (if any) is shredded, since no merge or issuance can use it any more. */
  async cancelPending(vault: VaultRecord, name: string, caller: Caller): Promise<PendingView> {
    let cancelled: string | null = null;
    const after = await this.decide(vault, name, caller, (state, now) => {
      const p = assertPendingInProgress(state, name);
      if (p.status !== 'inProgress') return [];
      cancelled = p.version;
      return [{ type: 'CertificateOperationCancellationRequested', data: { version: p.version, at: now } }];
    });
    if (cancelled !== null) await this.shredPendingKeys(vault, keyOf(name), cancelled, quiet(caller));
    return pendingView(after, name);
  }

  /** Deletes the operation (and a version that never got its certificate); its sealed key (if any) is shredded. */
  async deletePending(vault: VaultRecord, name: string, caller: Caller): Promise<PendingView> {
    const { state } = await this.repo.loadState(vault.vaultId, keyOf(name));
    const before = assertPendingInProgress(state, name);
    let deleted = before.version;
    await this.decide(vault, name, caller, (s, now) => {
      deleted = assertPendingInProgress(s, name).version;
      return [{ type: 'CertificateOperationDeleted', data: { version: deleted, at: now } }];
    });
    await this.shredPendingKeys(vault, keyOf(name), deleted, quiet(caller));
    return pendingView(state, name, before);
  }

  async merge(vault: VaultRecord, name: string, x5c: readonly string[], attributes: { enabled?: boolean }, tags: Tags | null, caller: Caller): Promise<CertificateView> {
    const nameKey = keyOf(name);
    const { state } = await this.repo.loadState(vault.vaultId, nameKey);
    const pending = assertPendingInProgress(state, name);
    if (pending.status !== 'inProgress' || pending.issuerName.toLowerCase() !== 'unknown') {
      throw new DomainError(CertificateErrorCode.CertificateMergeRefused, 'Pending certificate not found or not waiting for a merge.', { name });
    }
    const given = x5c.map(decodeX5c);
    const csr = Buffer.from(pending.csr, 'base64');
    // Leaf first, as Azure orders it; with preserveCertOrder the chain may come in any order and is kept as given.
    const preserve = versionOf(state, pending.version)?.preserveCertOrder === true;
    const leafAt = preserve ? given.findIndex((c) => leafMatchesCsr([c], csr)) : leafMatchesCsr(given, csr) ? 0 : -1;
    if (leafAt < 0) {
      throw new DomainError(CertificateErrorCode.CertificateMergeRefused, "Public key from x5c parameter doesn't match the public key of the pending certificate request.", { name });
    }
    const chain = [given[leafAt]!, ...given.filter((_, i) => i !== leafAt)];
    const inner = quiet(caller);
    const privateKey = await this.openPendingKey(vault, nameKey, pending, inner);
    const f = issuedFields(chain[0]!);
    const enabled = attributes.enabled ?? state.policy?.attributes.enabled ?? true;
    try {
      await this.setSecret(vault, name, pending.version, state.policy!, { privateKey, chain: preserve ? given : chain }, enabled, f, inner);
    } finally {
      privateKey?.fill(0);
    }
    const now = nowSeconds();
    const events: CertificateEvent[] = [{ type: 'CertificateIssued', data: { version: pending.version, ...f, enabled, issued: now, origin: 'merge' } }];
    if (tags !== null) events.push({ type: 'CertificateVersionUpdated', data: { version: pending.version, enabled, tags: { ...tags }, updated: now } });
    const after = await this.append(vault, nameKey, events, caller, 201, (s) => {
      if (assertPendingInProgress(s, name).version !== pending.version) throw pendingNotFound(name);
    });
    await this.shredPendingKeys(vault, nameKey, pending.version, inner).catch(() => undefined);
    return { name: after.name ?? name, state: after, version: versionOf(after, pending.version)! };
  }

  // ---------- import ----------

  async import(vault: VaultRecord, name: string, input: ImportCertificateInput, caller: Caller): Promise<CertificateView> {
    const nameKey = keyOf(name);
    const { state } = await this.repo.loadState(vault.vaultId, nameKey);
    assertCanStart(state, name);
    let material: CertificateMaterial;
    try {
      material = readMaterial(input.value, input.password, input.policy.secret_props.contentType === PEM, input.preserveCertOrder);
    } catch (err) {
      fromX509(err);
    }
    if (!material.privateKey) throw invalidCertificate('The certificate value does not contain a private key.');
    const leaf = parseCertificate(material.chain[0]!);
    const k = describeKey(createPrivateKey({ key: Buffer.from(material.privateKey), format: 'der', type: 'pkcs8' }));
    const now = nowSeconds();
    const kp = input.policy.key_props;
    if (input.policyGiven) {
      const wantRsa = kp.kty.startsWith('RSA');
      const mismatch = wantRsa !== (k.kty === 'RSA') || (k.kty === 'RSA' && kp.key_size !== undefined && kp.key_size !== k.keySize) || (k.kty === 'EC' && kp.crv !== undefined && kp.crv !== k.crv);
      if (mismatch) throw new DomainError(CertificateErrorCode.CertificateKeyPolicyMismatch, 'The key of the certificate does not match the key properties of the policy.', { name });
    }
    const policy = parsePolicy(
      {
        key_props: { ...kp, kty: kp.kty.endsWith('-HSM') ? `${k.kty}-HSM` : k.kty, ...(k.kty === 'RSA' ? { key_size: k.keySize, crv: null } : { crv: k.crv, key_size: null }) },
        x509_props: { subject: leaf.subject.split('\n').reverse().join(', ') || 'CN=imported', ...sansOf(leaf) },
      },
      now,
      { ...input.policy, key_props: { exportable: kp.exportable, kty: k.kty, reuse_key: kp.reuse_key }, x509_props: { ...input.policy.x509_props, validity_months: monthsOf(leaf) } },
    );
    const version = newId();
    if (caller.audit) caller.audit.objectVersion = version;
    const inner = quiet(caller);
    const jwk = createPrivateKey({ key: Buffer.from(material.privateKey), format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
    const keyOps = k.kty === 'RSA' ? KEY_OPS_RSA : KEY_OPS_EC;
    await this.keys.createForCertificate(
      vault,
      name,
      version,
      { kty: policy.key_props.kty, keySize: policy.key_props.key_size ?? null, crv: policy.key_props.crv ?? null, keyOps, jwkJson: JSON.stringify({ ...jwk, kty: k.kty, ...(jwk.crv === 'secp256k1' ? { crv: 'P-256K' } : {}), key_ops: keyOps }) },
      { enabled: true, exportable: policy.key_props.exportable },
      inner,
    );
    const f = issuedFields(material.chain[0]!);
    const enabled = input.attributes.enabled ?? true;
    await this.setSecret(vault, name, version, policy, material, enabled, f, inner, input.preserveCertOrder);
    const record: CertificateVersionRecord = { version, ...f, enabled, tags: input.tags === null ? null : { ...input.tags }, created: now, updated: now, ...(input.preserveCertOrder ? { preserveCertOrder: true as const } : {}) };
    const after = await this.append(vault, nameKey, [{ type: 'CertificatePolicySet', data: { vaultId: vault.vaultId, name, policy } }, { type: 'CertificateImported', data: { record } }], caller, 200, (s) => assertCanStart(s, name));
    return { name: after.name ?? name, state: after, version: versionOf(after, version)! };
  }

  // ---------- updates ----------

  async update(vault: VaultRecord, name: string, version: string | null, patch: UpdateCertificateInput, caller: Caller): Promise<CertificateView> {
    let target = version;
    const after = await this.decide(vault, name, caller, (state, now) => {
      const events = decideUpdate(state, name, version, { ...(patch.attributes.enabled !== undefined ? { enabled: patch.attributes.enabled } : {}), ...(patch.tags !== undefined ? { tags: patch.tags } : {}) }, now);
      target = (events[0] as Extract<CertificateEvent, { type: 'CertificateVersionUpdated' }>).data.version;
      if (patch.policy) events.push({ type: 'CertificatePolicySet', data: { vaultId: vault.vaultId, name, policy: parsePolicy(patch.policy, now, state.policy ?? undefined) } });
      return events;
    });
    return { name: after.name ?? name, state: after, version: versionOf(after, target)! };
  }

  async updatePolicy(vault: VaultRecord, name: string, patch: unknown, caller: Caller): Promise<{ name: string; policy: PolicyRecord }> {
    const after = await this.decide(vault, name, caller, (state, now) => {
      assertActive(state, name);
      return [{ type: 'CertificatePolicySet', data: { vaultId: vault.vaultId, name, policy: parsePolicy(patch, now, state.policy ?? undefined) } }];
    });
    return { name: after.name ?? name, policy: after.policy! };
  }

  // ---------- delete, recover, purge ----------

  async delete(vault: VaultRecord, name: string, caller: Caller): Promise<CertificateView> {
    const nameKey = keyOf(name);
    const { state } = await this.repo.loadState(vault.vaultId, nameKey);
    assertActive(state, name);
    const inner = quiet(caller);
    await ignoreNotFound(() => this.keys.delete(vault, name, inner, true));
    await ignoreNotFound(() => this.secrets.delete(vault, name, inner, true));
    await this.decide(vault, name, caller, (s, now) => decideDelete(s, name, now, vault.retentionDays));
    return this.getDeleted(vault, name);
  }

  async recover(vault: VaultRecord, name: string, caller: Caller): Promise<CertificateView> {
    const { state } = await this.repo.loadState(vault.vaultId, keyOf(name));
    if (state.status !== 'deleted') throw deletedCertificateNotFound(name);
    const inner = quiet(caller);
    await ignoreNotFound(() => this.keys.recover(vault, name, inner));
    await ignoreNotFound(() => this.secrets.recover(vault, name, inner));
    await this.decide(vault, name, caller, (s, now) => decideRecover(s, name, now));
    return this.get(vault, name, null);
  }

  async purge(vault: VaultRecord, name: string, reason: CertificatePurgeReason, caller: Caller, at?: number): Promise<boolean> {
    const nameKey = keyOf(name);
    const { state } = await this.repo.loadState(vault.vaultId, nameKey);
    decidePurge(state, name, at ?? nowSeconds(), reason, vault.purgeProtection);
    const inner = quiet(caller);
    const keyReason = reason;
    await ignoreNotFound(() => this.keys.purge(vault, name, keyReason, inner, at));
    await ignoreNotFound(() => this.secrets.purge(vault, name, keyReason, inner, 204, at));
    // Crypto-shredding of the certificate's own data keys, every version's (a pending key sealed in the log included).
    await this.shredPendingKeys(vault, nameKey, '', inner);
    let purged = false;
    await this.decide(vault, name, caller, (s, now) => {
      const events = decidePurge(s, name, at ?? now, reason, vault.purgeProtection);
      purged = events.length > 0;
      return events;
    }, 204);
    return purged;
  }

  // ---------- backup, restore ----------

  /** One blob: the certificate's state and the managed key's and secret's own backups, sealed together by the crypto service. */
  async backup(vault: VaultRecord, name: string, caller: Caller): Promise<Buffer> {
    const nameKey = keyOf(name);
    const { state } = await this.repo.loadState(vault.vaultId, nameKey);
    assertActive(state, name);
    const inner = quiet(caller);
    const completed = state.versions.filter((v) => v.cer !== null);
    if (completed.length === 0 || !state.policy) throw certificateNotFound(name);
    const key = (await this.keys.backup(vault, name, inner)).toString('base64');
    const secret = (await this.secrets.backup(vault, name, inner)).toString('base64');
    const payload = { kind: 'keyledger.certificate.backup', v: 1, name: state.name ?? name, policy: state.policy, versions: completed, key, secret };
    const sealed = await this.crypto.sealBackup({ ctx: callContextOf(inner), purpose: BACKUP_PURPOSE, payload: Buffer.from(JSON.stringify(payload), 'utf8') });
    return Buffer.concat([BACKUP_MAGIC, sealed.blob]);
  }

  async restore(vault: VaultRecord, blob: Buffer, caller: Caller): Promise<CertificateView> {
    const malformed = () => new DomainError(VaultErrorCode.MalformedBackup, 'Backup blob contains invalid or corrupt version.');
    if (blob.length <= BACKUP_MAGIC.length || !blob.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) throw malformed();
    const inner = quiet(caller);
    let payload: { name: string; policy: PolicyRecord; versions: CertificateVersionRecord[]; key: string; secret: string };
    try {
      const opened = (await this.crypto.openBackup({ ctx: callContextOf(inner), purpose: BACKUP_PURPOSE, blob: blob.subarray(BACKUP_MAGIC.length) })).payload;
      payload = JSON.parse(opened.toString('utf8')) as typeof payload;
    } catch (err) {
      if (err instanceof CryptoError && err.code !== CryptoErrorCode.CiphertextInvalid && err.code !== CryptoErrorCode.BadParameter) throw err;
      throw malformed();
    }
    if (typeof payload?.name !== 'string' || !/^[0-9a-zA-Z-]{1,127}$/.test(payload.name) || !Array.isArray(payload.versions) || payload.versions.length === 0) throw malformed();
    const nameKey = keyOf(payload.name);
    const { state } = await this.repo.loadState(vault.vaultId, nameKey);
    if (state.status !== 'absent') throw new DomainError(CertificateErrorCode.CertificateRestoreConflict, `certificate ${payload.name} already exists`, { name: payload.name });
    if (caller.audit) caller.audit.objectName = payload.name;
    await this.keys.restore(vault, Buffer.from(payload.key, 'base64'), inner);
    await this.secrets.restore(vault, Buffer.from(payload.secret, 'base64'), inner);
    const after = await this.append(vault, nameKey, [{ type: 'CertificateRestored', data: { vaultId: vault.vaultId, name: payload.name, restoredDate: nowSeconds(), policy: payload.policy, versions: payload.versions } }], caller, 200, (s) => {
      if (s.status !== 'absent') throw new DomainError(CertificateErrorCode.CertificateRestoreConflict, `certificate ${payload.name} already exists`, { name: payload.name });
    });
    return { name: payload.name, state: after, version: versionOf(after, null)! };
  }

  /** AutoRenew: a new version from the certificate's own policy (the scheduler's caller carries the system audit record). */
  async renew(vault: VaultRecord, name: string, caller: Caller): Promise<PendingView> {
    const { state } = await this.repo.loadState(vault.vaultId, keyOf(name));
    assertActive(state, name);
    const latest = versionOf(state, null);
    const op = await this.create(vault, name, { policy: { ...state.policy!, attributes: { ...state.policy!.attributes } }, attributes: {}, tags: latest?.tags ?? null, preserveCertOrder: latest?.preserveCertOrder === true }, caller);
    // The create started the issuance in the background: the renewal waits for it.
    await this.issuePending(vault, name);
    return op;
  }

  /**
   * An EmailContacts action fired: records CertificateNearExpiry for the version once (published
   * on the vault's events topic) with the vault's contacts at that moment. Azure accepts the
   * action when the vault has no contacts and then mails nobody; here the event is recorded all
   * the same, with `contacts: []` and `noContacts: true`, and carries the certificate's name,
   * thumbprint, expiry and the trigger, so a subscriber can route the notice without contacts.
   */
  async notifyNearExpiry(vault: VaultRecord, name: string, version: string, exp: number, caller: Caller, at: number): Promise<boolean> {
    const contacts = (await this.issuers.contactsOf(vault.vaultId)).map((c) => ({ ...(c.email !== undefined ? { email: c.email } : {}), ...(c.name !== undefined ? { name: c.name } : {}), ...(c.phone !== undefined ? { phone: c.phone } : {}) }));
    let recorded = false;
    await this.decide(vault, name, caller, (s) => {
      if (s.status !== 'active' || s.nearExpiryNotified === version) return [];
      recorded = true;
      const v = versionOf(s, version);
      const trigger = s.policy?.lifetime_actions.find((a) => a.action.action_type === 'EmailContacts')?.trigger;
      return [
        {
          type: 'CertificateNearExpiry',
          data: { version, exp, notifiedDate: at, name: s.name ?? name, ...(v?.x5t ? { x5t: v.x5t } : {}), ...(trigger ? { trigger: { ...trigger } } : {}), contacts, noContacts: contacts.length === 0 },
        },
      ];
    });
    return recorded;
  }

  async purgeAllOf(vault: VaultRecord, caller: Caller): Promise<number> {
    let n = 0;
    for (const nameKey of await this.repo.nameKeysOfVault(vault.vaultId)) if (await this.purge(vault, nameKey, 'vault-purged', caller)) n++;
    return n;
  }

  // ---------- internals ----------

  private keyRef(vault: VaultRecord, nameKey: string, version: string): ObjectRef {
    return { tenant: vault.tenantId, vault: cryptoVaultOf(vault), collection: 'keys', name: nameKey, version };
  }

  /** The crypto-service object a pending version's data key belongs to, also the envelope's AAD. `version` '' names every version (purge). */
  private pendingKeyRef(vault: VaultRecord, nameKey: string, version: string): ObjectRef & ObjectIdentity {
    return { tenant: vault.tenantId, vault: vault.nameKey, collection: 'certificates', name: nameKey, version };
  }

  /** Seals a pending version's private key (PKCS#8) under a fresh data key bound to that version. */
  private async sealPendingKey(vault: VaultRecord, nameKey: string, version: string, privateKey: Uint8Array, caller: Caller): Promise<{ sealedKey: string; sealedKeyId: string }> {
    const ref = this.pendingKeyRef(vault, nameKey, version);
    const generated = await this.crypto.generateDataKey({ ctx: callContextOf(caller), ref });
    try {
      return { sealedKey: seal(generated.plaintext, generated.keyId, privateKey, ref).toString('base64'), sealedKeyId: generated.keyId };
    } finally {
      generated.plaintext.fill(0);
    }
  }

  /** Opens the pending operation's sealed key (null when the key is not exportable). The caller zeroes it. */
  private async openPendingKey(vault: VaultRecord, nameKey: string, p: PendingRecord, caller: Caller): Promise<Uint8Array | null> {
    if (!p.sealedKey) return null;
    const blob = Buffer.from(p.sealedKey, 'base64');
    const ctx = callContextOf(caller);
    if (!p.sealedKeyId) return new Uint8Array((await this.crypto.openBackup({ ctx, purpose: LEGACY_PENDING_KEY_PURPOSE, blob })).payload);
    const ref = this.pendingKeyRef(vault, nameKey, p.version);
    const key = (await this.crypto.decryptDataKey({ ctx, ref, keyId: p.sealedKeyId })).plaintext;
    try {
      return new Uint8Array(openEnvelope(key, blob, ref, { expectedKeyId: p.sealedKeyId }));
    } finally {
      key.fill(0);
    }
  }

  /**
   * Crypto-shredding of the certificate's own data keys (the sealed pending keys): one version's,
   * or every version's with `version` ''. Afterwards the envelopes kept in the event log can no
   * longer be opened. Idempotent: nothing to destroy is not an error.
   */
  private async shredPendingKeys(vault: VaultRecord, nameKey: string, version: string, caller: Caller): Promise<void> {
    await this.crypto.destroyDataKeys({ ctx: callContextOf(caller), ref: this.pendingKeyRef(vault, nameKey, version) });
  }

  /**
   * The managed secret version: PKCS#12 (base64) or PEM per the policy, the private key only when
   * exportable. The chain is leaf first, or as given when the version preserves the certificate
   * order (`material.given`, from an import; a merge passes its chain as given).
   */
  private async setSecret(vault: VaultRecord, name: string, version: string, policy: PolicyRecord, material: CertificateMaterial, enabled: boolean, f: { nbf: number; exp: number }, caller: Caller, preserveOrder = false): Promise<void> {
    const chain = preserveOrder && material.given ? material.given : material.chain;
    const withKey: CertificateMaterial = { privateKey: policy.key_props.exportable ? material.privateKey : null, chain };
    const pem = policy.secret_props.contentType === PEM;
    const value = pem ? toPem(withKey) : Buffer.from(toPkcs12(withKey)).toString('base64');
    await this.secrets.set(vault, name, { value, contentType: policy.secret_props.contentType, tags: null, attributes: { enabled, nbf: f.nbf, exp: f.exp } }, caller, 200, { version });
  }

  /** Load → decide → append (with the request's audit record), retried on a concurrent write. */
  private async decide(vault: VaultRecord, name: string, caller: Caller, decide: (state: CertificateState, now: number) => CertificateEvent[], status = 200): Promise<CertificateState> {
    const nameKey = keyOf(name);
    return handleCommand(() => this.repo.loadState(vault.vaultId, nameKey), async ({ state, streamVersion }) => {
      const events = decide(state, nowSeconds());
      if (events.length === 0) return state;
      return this.appendAt(vault, nameKey, state, streamVersion, events, caller, status);
    }, RETRY);
  }

  /** Append events decided outside (create, import, merge, restore): `check` runs again on fresh state before each attempt. */
  private async append(vault: VaultRecord, nameKey: string, events: CertificateEvent[], caller: Caller, status: number, check: (s: CertificateState) => void): Promise<CertificateState> {
    return handleCommand(() => this.repo.loadState(vault.vaultId, nameKey), async ({ state, streamVersion }) => {
      check(state);
      return this.appendAt(vault, nameKey, state, streamVersion, events, caller, status);
    }, RETRY);
  }

  private async appendAt(vault: VaultRecord, nameKey: string, state: CertificateState, streamVersion: number, events: CertificateEvent[], caller: Caller, status: number): Promise<CertificateState> {
    const after = events.reduce(evolveCertificate, state);
    const expected: ExpectedVersion = streamVersion === 0 ? 'no_stream' : streamVersion;
    // A request's record commits once (an issuance after the create of a renewal appends without it).
    const audit = caller.audit && !caller.audit.written ? caller.audit : undefined;
    await this.store.appendToStream<CertificateEvent>(certificateStreamId(vault.vaultId, nameKey), expected, events, {
      metadata: { actor: caller.objectId, tenant: vault.tenantId, correlationId: caller.correlationId },
      object: { vault: vault.nameKey, collection: 'certificates', name: nameKey },
      ...(audit ? { audit: [audit.forCommit(status)] } : {}),
      inTransaction: (tx, recorded) => this.repo.save(tx, vault.vaultId, nameKey, after, recorded[recorded.length - 1]!.streamVersion),
    });
    audit?.committed();
    return after;
  }
}

async function ignoreNotFound(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (err) {
    if (err instanceof DomainError && /NotFound$/.test(err.code)) return;
    if (err instanceof CryptoError && err.code === CryptoErrorCode.KeyNotFound) return;
    throw err;
  }
}

/** An x5c entry: base64 DER — or, as Azure also accepts, base64 of PEM text (armoured or not). */
function decodeX5c(entry: string): Uint8Array {
  const once = Buffer.from(entry, 'base64');
  try {
    return new Uint8Array(parseCertificate(once).raw);
  } catch {
    const text = once.toString('latin1').replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]+=*$/.test(text)) throw invalidCertificate('Property x5c has an invalid certificate.');
    try {
      return new Uint8Array(parseCertificate(Buffer.from(text, 'base64')).raw);
    } catch {
      throw invalidCertificate('Property x5c has an invalid certificate.');
    }
  }
}

/** The import value: PEM text, or base64 PKCS#12 (PEM text is recognised whatever the policy says); with `preserveOrder`, the chain as given is kept beside the leaf-first one. */
function readMaterial(value: string, password: string | null, pemPolicy: boolean, preserveOrder: boolean): CertificateMaterial {
  const m = pemPolicy || value.trimStart().startsWith('-----BEGIN') ? parsePem(value, password ?? undefined) : readPkcs12(value, password);
  return preserveOrder ? m : { privateKey: m.privateKey, chain: m.chain };
}

function readPkcs12(value: string, password: string | null): CertificateMaterial {
  if (!/^[A-Za-z0-9+/\r\n]+=*\s*$/.test(value)) throw invalidCertificate('The certificate value is neither base64 PKCS#12 nor PEM.');
  return parsePkcs12(new Uint8Array(Buffer.from(value, 'base64')), password ?? '');
}

function sansOf(c: X509Certificate): Record<string, unknown> {
  const san = c.subjectAltName;
  if (!san) return {};
  const dns = [...san.matchAll(/DNS:([^,]+)/g)].map((m) => m[1]!.trim());
  const emails = [...san.matchAll(/email:([^,]+)/g)].map((m) => m[1]!.trim());
  return dns.length + emails.length > 0 ? { sans: { ...(dns.length ? { dns_names: dns } : {}), ...(emails.length ? { emails } : {}) } } : {};
}

function monthsOf(c: X509Certificate): number {
  const from = new Date(c.validFrom);
  const to = new Date(c.validTo);
  const months = (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + (to.getUTCMonth() - from.getUTCMonth());
  return Math.min(1200, Math.max(1, months));
}

