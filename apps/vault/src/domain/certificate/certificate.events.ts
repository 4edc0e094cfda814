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
   * `Unknown` issuer with an exportable key: the private key, sealed by the crypto service
   * (ciphertext, like a secret's value), until the merge puts it in the managed secret. Dropped
   * from the published copy of the event and from the state once the operation ends.
   */
  readonly sealedKey?: string;
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
  /** An EmailContacts lifetime action fired for this version (once per version): the certificate expires soon. */
  | { readonly type: 'CertificateNearExpiry'; readonly data: { readonly version: string; readonly exp: number; readonly notifiedDate: number } }
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
const isVersionRecord = (x: unknown): boolean => versionRecord(x).length === 0;
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
        const { sealedKey: _sealed, ...pendingPublic } = d.pending as Record<string, unknown>;
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
    .define({ type: 'CertificateNearExpiry', schemaVersion: 1, validate: v.object({ version: hex32, exp: seconds, notifiedDate: seconds }) })
    .define({
      type: 'CertificateRestored',
      schemaVersion: 1,
      validate: v.object({ vaultId: v.nonEmpty, name: v.nonEmpty, restoredDate: seconds, policy, versions: (x) => Array.isArray(x) && x.length > 0 && x.every(isVersionRecord) }),
    });
}
