import { v, type EventRegistry } from '#libs/kernel';
import type { Tags } from '../key/key.rules.js';
import type { PolicyRecord } from './certificate.rules.js';

/**
 * Events of one certificate (stream `cert-{vaultId}-{lower-case name}`), past tense. They hold
 * what the vault answers: the policy, the pending operation (its CSR), each version's public
 * certificate (`cer`, base64 DER), x5t, attributes and tags, soft-delete dates. Never a private
 * key, a PKCS#12, a password or an issuer credential: the key lives in the crypto service (the
 * managed key) and the PKCS#12/PEM sealed in the managed secret.
 */
export type CertificateVersionRecord = {
  readonly version: string;
  /** base64 DER; null while the version is pending. */
  readonly cer: string | null;
  readonly x5t: string | null;
  readonly enabled: boolean;
  readonly nbf: number | null;
  readonly exp: number | null;
  readonly tags: Tags | null;
  readonly created: number;
  readonly updated: number;
  /**
   * `preserveCertOrder` of the create or import (api-version 2025-07-01): the managed secret
   * keeps the chain in the order it was given instead of leaf first. Present only when true.
   */
  readonly preserveCertOrder?: true;
};

export type OperationStatus = 'inProgress' | 'completed' | 'failed' | 'cancelled';

export type PendingRecord = {
  readonly version: string;
  readonly requestId: string;
  readonly issuerName: string;
  /** base64 DER PKCS#10. */
  readonly csr: string;
  readonly cancellationRequested: boolean;
  readonly status: OperationStatus;
  readonly statusDetails: string;
  readonly error: { readonly code: string; readonly message: string } | null;
  /**
   * An exportable key waiting for its certificate: the private key (PKCS#8), an AES-256-GCM
   * envelope (base64) under a data key of its own from the crypto service, bound to the
   * certificate version (ciphertext, like a secret's value), until the issuance or merge puts
   * it in the managed secret. That data key is destroyed when the operation ends (issued,
   * failed, cancelled, deleted) and when the certificate is purged, so the copy in the
   * immutable event log can no longer be opened (crypto-shredding). Dropped from the published
   * copy of the event and from the state once the operation ends.
   */
  readonly sealedKey?: string;
  /**
   * The data key `sealedKey` is sealed under. Absent on operations started before pending keys
   * had their own data key: those were sealed as a backup blob and are opened that way.
   */
  readonly sealedKeyId?: string;
};

/** A contact as the vault's `/certificates/contacts` holds it (no secret: an address to notify). */
export type NearExpiryContact = { readonly email?: string; readonly name?: string; readonly phone?: string };

export type NearExpiryData = {
  readonly version: string;
  readonly exp: number;
  readonly notifiedDate: number;
  /** The certificate's name as created (the stream holds it lower-cased). */
  readonly name?: string;
  readonly x5t?: string;
  /** The trigger that fired: `lifetime_percentage` or `days_before_expiry`, as in the policy. */
  readonly trigger?: { readonly lifetime_percentage?: number; readonly days_before_expiry?: number };
  readonly contacts?: readonly NearExpiryContact[];
  /** True when the vault had no contacts: nobody is mailed, the event is the only notice. */
  readonly noContacts?: boolean;
};

export type CertificatePurgeReason = 'request' | 'scheduled' | 'vault-purged';

export type CertificateEvent =
  | { readonly type: 'CertificatePolicySet'; readonly data: { readonly vaultId: string; readonly name: string; readonly policy: PolicyRecord } }
  | { readonly type: 'CertificateOperationStarted'; readonly data: { readonly pending: PendingRecord; readonly record: CertificateVersionRecord } }
  | { readonly type: 'CertificateIssued'; readonly data: { readonly version: string; readonly cer: string; readonly x5t: string; readonly enabled: boolean; readonly nbf: number; readonly exp: number; readonly issued: number; readonly origin: 'self' | 'keyledger' | 'merge' } }
  | { readonly type: 'CertificateOperationFailed'; readonly data: { readonly version: string; readonly code: string; readonly message: string; readonly at: number } }
  | { readonly type: 'CertificateOperationCancellationRequested'; readonly data: { readonly version: string; readonly at: number } }
  | { readonly type: 'CertificateOperationDeleted'; readonly data: { readonly version: string; readonly at: number } }
  | { readonly type: 'CertificateImported'; readonly data: { readonly record: CertificateVersionRecord } }
  | { readonly type: 'CertificateVersionUpdated'; readonly data: { readonly version: string; readonly enabled: boolean; readonly tags: Tags | null; readonly updated: number } }
  | { readonly type: 'CertificateDeleted'; readonly data: { readonly deletedDate: number; readonly scheduledPurgeDate: number } }
  | { readonly type: 'CertificateRecovered'; readonly data: { readonly recoveredDate: number } }
  | { readonly type: 'CertificatePurged'; readonly data: { readonly purgedDate: number; readonly reason: CertificatePurgeReason } }
  /**
   * An EmailContacts lifetime action fired for this version (once per version): the certificate
   * expires soon. `contacts` are the vault's certificate contacts when it fired — possibly none
   * (Azure accepts the action without contacts and then mails nobody); the event is published
   * either way, with what a subscriber needs to act on it without contacts. Events recorded
   * before these fields existed carry only version, exp and notifiedDate.
   */
  | { readonly type: 'CertificateNearExpiry'; readonly data: NearExpiryData }
  | {
      readonly type: 'CertificateRestored';
      readonly data: { readonly vaultId: string; readonly name: string; readonly restoredDate: number; readonly policy: PolicyRecord; readonly versions: readonly CertificateVersionRecord[] };
    };

export type CertificateEventType = CertificateEvent['type'];

export const certificateStreamId = (vaultId: string, nameKey: string): string => `cert-${vaultId}-${nameKey}`;

const hex32 = (x: unknown): boolean => typeof x === 'string' && /^[0-9a-f]{32}$/.test(x);
const seconds = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 0;
const base64 = (x: unknown): boolean => typeof x === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(x);
const versionRecord = v.object({
  version: hex32,
  cer: v.nullable(base64),
  x5t: v.nullable(v.string),
  enabled: v.boolean,
  nbf: v.nullable(seconds),
  exp: v.nullable(seconds),
  tags: v.nullable(v.record),
  created: seconds,
  updated: seconds,
});
const isVersionRecord = (x: unknown): boolean => versionRecord(x).length === 0 && ((x as Record<string, unknown>).preserveCertOrder === undefined || (x as Record<string, unknown>).preserveCertOrder === true);
const contact = (x: unknown): boolean => v.record(x) && Object.values(x as Record<string, unknown>).every((f) => typeof f === 'string');
/** The policy's shape is checked where it is parsed (certificate.rules.ts); here: present, an object, no secret-bearing fields. */
const policy = (x: unknown): boolean => v.record(x) && v.record((x as Record<string, unknown>).key_props) && v.record((x as Record<string, unknown>).x509_props);
const pending = v.object({
  version: hex32,
  requestId: hex32,
  issuerName: v.nonEmpty,
  csr: base64,
  cancellationRequested: v.boolean,
  status: (x: unknown) => x === 'inProgress' || x === 'completed' || x === 'failed' || x === 'cancelled',
  statusDetails: v.string,
  error: v.nullable(v.record),
});

/**
 * Certificate events are service-internal for now (no contract in libs/contracts yet): they
 * are published as stored — every field is public (the certificate, its CSR, its policy).
 */
export function registerCertificateEvents(r: EventRegistry): EventRegistry {
  return r
    .define({ type: 'CertificatePolicySet', schemaVersion: 1, validate: v.object({ vaultId: v.nonEmpty, name: v.nonEmpty, policy }) })
    .define({
      type: 'CertificateOperationStarted',
      schemaVersion: 1,
      validate: v.object({ pending: (x) => pending(x).length === 0, record: isVersionRecord }),
      publish: (d) => {
        const { sealedKey: _sealed, sealedKeyId: _sealedKeyId, ...pendingPublic } = d.pending as Record<string, unknown>;
        return { pending: pendingPublic, record: d.record };
      },
    })
    .define({
      type: 'CertificateIssued',
      schemaVersion: 1,
      validate: v.object({ version: hex32, cer: base64, x5t: v.nonEmpty, enabled: v.boolean, nbf: seconds, exp: seconds, issued: seconds, origin: (x) => x === 'self' || x === 'keyledger' || x === 'merge' }),
    })
    .define({ type: 'CertificateOperationFailed', schemaVersion: 1, validate: v.object({ version: hex32, code: v.nonEmpty, message: v.string, at: seconds }) })
    .define({ type: 'CertificateOperationCancellationRequested', schemaVersion: 1, validate: v.object({ version: hex32, at: seconds }) })
    .define({ type: 'CertificateOperationDeleted', schemaVersion: 1, validate: v.object({ version: hex32, at: seconds }) })
    .define({ type: 'CertificateImported', schemaVersion: 1, validate: v.object({ record: isVersionRecord }) })
    .define({ type: 'CertificateVersionUpdated', schemaVersion: 1, validate: v.object({ version: hex32, enabled: v.boolean, tags: v.nullable(v.record), updated: seconds }) })
    .define({ type: 'CertificateDeleted', schemaVersion: 1, validate: v.object({ deletedDate: seconds, scheduledPurgeDate: seconds }) })
    .define({ type: 'CertificateRecovered', schemaVersion: 1, validate: v.object({ recoveredDate: seconds }) })
    .define({ type: 'CertificatePurged', schemaVersion: 1, validate: v.object({ purgedDate: seconds, reason: (x) => x === 'request' || x === 'scheduled' || x === 'vault-purged' }) })
    .define({
      type: 'CertificateNearExpiry',
      schemaVersion: 1,
      validate: v.object(
        { version: hex32, exp: seconds, notifiedDate: seconds, name: v.nonEmpty, x5t: v.string, trigger: v.record, contacts: v.arrayOf(contact), noContacts: v.boolean },
        ['name', 'x5t', 'trigger', 'contacts', 'noContacts'],
      ),
    })
    .define({
      type: 'CertificateRestored',
      schemaVersion: 1,
      validate: v.object({ vaultId: v.nonEmpty, name: v.nonEmpty, restoredDate: seconds, policy, versions: (x) => Array.isArray(x) && x.length > 0 && x.every(isVersionRecord) }),
    });
}
