import { describe, expect, it } from '@jest/globals';
import { DomainError } from '#libs/kernel';
import { decideDelete, decidePurge, evolveCertificate, initialCertificateState, type CertificateState } from './certificate.decider.js';
import type { CertificateEvent } from './certificate.events.js';
import { parseCreateCertificate, parseImportCertificate, parsePolicy, PEM, PKCS12 } from './certificate.rules.js';

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    return err instanceof DomainError ? `${err.code}: ${err.message}` : String(err);
  }
  return 'accepted';
};

describe('certificate policy rules', () => {
  it("fills Azure's defaults as the recorded service answers them", () => {
    const p = parsePolicy({ key_props: {}, secret_props: {}, x509_props: { subject: 'cn=MyCert', sans: {} }, issuer: { name: 'Self' }, attributes: {} }, 100);
    expect(p).toEqual({
      key_props: { exportable: true, kty: 'RSA', key_size: 2048, reuse_key: false },
      secret_props: { contentType: PKCS12 },
      x509_props: { subject: 'cn=MyCert', sans: {}, ekus: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], key_usage: ['digitalSignature', 'keyEncipherment'], validity_months: 12, basic_constraints: { ca: false } },
      lifetime_actions: [{ trigger: { lifetime_percentage: 80 }, action: { action_type: 'AutoRenew' } }],
      issuer: { name: 'Self' },
      attributes: { enabled: true, created: 100, updated: 100 },
    });
    expect(parsePolicy({ x509_props: { subject: 'CN=x' }, issuer: { name: 'Unknown' } }, 1).lifetime_actions[0]!.action.action_type).toBe('EmailContacts');
    expect(parsePolicy({ key_props: { kty: 'EC-HSM' }, x509_props: { subject: 'CN=x' } }, 1).key_props).toEqual({ exportable: false, kty: 'EC-HSM', crv: 'P-256', reuse_key: false });
  });

  it('an update patches the current policy and keeps its creation time', () => {
    const base = parsePolicy({ x509_props: { subject: 'CN=a', validity_months: 6 }, issuer: { name: 'Self' }, secret_props: { contentType: PEM } }, 10);
    const next = parsePolicy({ x509_props: { subject: 'CN=b' } }, 20, base);
    expect(next.x509_props).toMatchObject({ subject: 'CN=b', validity_months: 6 });
    expect(next.secret_props.contentType).toBe(PEM);
    expect(next.attributes).toEqual({ enabled: true, created: 10, updated: 20 });
  });

  it.each([
    ['validity 0', { x509_props: { subject: 'CN=x', validity_months: 0 } }],
    ['validity 1201', { x509_props: { subject: 'CN=x', validity_months: 1201 } }],
    ['no CN, no SANs', { x509_props: { subject: 'O=Contoso' } }],
    ['RSA size', { key_props: { kty: 'RSA', key_size: 1024 }, x509_props: { subject: 'CN=x' } }],
    ['curve', { key_props: { kty: 'EC', crv: 'P-999' }, x509_props: { subject: 'CN=x' } }],
    ['exportable HSM key', { key_props: { kty: 'RSA-HSM', exportable: true }, x509_props: { subject: 'CN=x' } }],
    ['content type', { secret_props: { contentType: 'text/plain' }, x509_props: { subject: 'CN=x' } }],
    ['key usage', { x509_props: { subject: 'CN=x', key_usage: ['everything'] } }],
    ['EKU', { x509_props: { subject: 'CN=x', ekus: ['serverAuth'] } }],
    ['lifetime trigger', { x509_props: { subject: 'CN=x' }, lifetime_actions: [{ trigger: { lifetime_percentage: 80, days_before_expiry: 3 }, action: { action_type: 'AutoRenew' } }] }],
  ])('refuses %s with BadParameter', (_what, policy) => {
    expect(refusal(() => parseCreateCertificate({ policy }, 1))).toMatch(/^BadParameter: /);
  });

  it('accepts a subject without CN when SANs name the subject', () => {
    expect(refusal(() => parsePolicy({ x509_props: { subject: 'O=Contoso', sans: { dns_names: ['a.internal'] } } }, 1))).toBe('accepted');
  });

  it('an import of PEM text without a content type in its policy is PEM, anything else PKCS#12', () => {
    expect(parseImportCertificate({ value: '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n' }, 1).policy.secret_props.contentType).toBe(PEM);
    expect(parseImportCertificate({ value: 'MIIB', pwd: 'x' }, 1)).toMatchObject({ password: 'x', policyGiven: false, contentTypeGiven: false, policy: { secret_props: { contentType: PKCS12 }, issuer: { name: 'Unknown' } } });
    expect(refusal(() => parseImportCertificate({ value: 3 }, 1))).toMatch(/^BadParameter/);
  });
});

describe('certificate state', () => {
  const policy = parsePolicy({ x509_props: { subject: 'CN=x' }, issuer: { name: 'Self' } }, 1);
  const version = 'a'.repeat(32);
  const events: CertificateEvent[] = [
    { type: 'CertificatePolicySet', data: { vaultId: 'v', name: 'Web', policy } },
    {
      type: 'CertificateOperationStarted',
      data: {
        pending: { version, requestId: 'b'.repeat(32), issuerName: 'Self', csr: 'AA==', cancellationRequested: false, status: 'inProgress', statusDetails: 'x', error: null, sealedKey: 'c2VhbGVk' },
        record: { version, cer: null, x5t: null, enabled: false, nbf: null, exp: null, tags: null, created: 1, updated: 1 },
      },
    },
    { type: 'CertificateIssued', data: { version, cer: 'AA==', x5t: 'x5t', enabled: true, nbf: 1, exp: 2, issued: 3, origin: 'self' } },
  ];

  it('folds create → issued: the version completes, the sealed pending key is dropped', () => {
    const s = events.reduce(evolveCertificate, initialCertificateState());
    expect(s.status).toBe('active');
    expect(s.latest).toBe(version);
    expect(s.pending).toMatchObject({ status: 'completed' });
    expect(s.pending && 'sealedKey' in s.pending).toBe(false);
    expect(s.versions[0]).toMatchObject({ cer: 'AA==', enabled: true, nbf: 1, exp: 2, updated: 3 });
  });

  it('delete → purge forgets the certificate; purge of a live one is refused', () => {
    const live: CertificateState = events.reduce(evolveCertificate, initialCertificateState());
    expect(refusal(() => decidePurge(live, 'Web', 10, 'request', false))).toMatch(/^DeletedCertificateNotFound/);
    const deleted = decideDelete(live, 'Web', 10, 7).reduce(evolveCertificate, live);
    expect(deleted).toMatchObject({ status: 'deleted', deletedDate: 10, scheduledPurgeDate: 10 + 7 * 86_400 });
    expect(refusal(() => decidePurge(deleted, 'Web', 11, 'request', true))).toMatch(/^PurgeProtected/);
    expect(decidePurge(deleted, 'Web', 11, 'request', false).reduce(evolveCertificate, deleted)).toEqual(initialCertificateState());
  });
});
