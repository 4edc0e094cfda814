import { newAuditRecord, type AuditRecord } from '#libs/contracts';

/** Audit records for tests (pure data). */
export function sampleRecord(overrides: Partial<AuditRecord> & { readonly n?: number } = {}): AuditRecord {
  const { n = 0, ...rest } = overrides;
  return newAuditRecord({
    tenant: 'tenant-a',
    source: 'vault',
    resourceId: '/vaults/dev',
    operationName: 'SecretGet',
    operationVersion: '7.6',
    resultType: 'Success',
    resultSignature: '200',
    durationMs: 3 + n,
    callerIpAddress: '::ffff:10.0.0.7',
    correlationId: `corr-${n}`,
    identity: { oid: '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01', appid: '2966c8e5-2fd9-419a-8c80-0c92362a70aa', tid: 'tenant-a', idtyp: 'app' },
    properties: {
      requestUri: `https://dev.vault.localhost:8443/secrets/db-password?api-version=7.6&n=${n}`,
      httpMethod: 'GET',
      id: 'https://dev.vault.localhost:8443/secrets/db-password/0123456789abcdef0123456789abcdef',
      vault: 'dev',
      collection: 'secrets',
      objectName: 'db-password',
      objectVersion: '0123456789abcdef0123456789abcdef',
      isRbacAuthorized: true,
      appliedAssignmentId: '11111111-1111-4111-8111-111111111111',
      clientInfo: 'azsdk-js-keyvault-secrets/4.11.2',
      tlsVersion: 'TLSv1.3',
    },
    ...rest,
  });
}
