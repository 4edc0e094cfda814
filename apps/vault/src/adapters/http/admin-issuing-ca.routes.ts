import { createHash, X509Certificate } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpProblem } from './azure-errors.js';
import { apiRequest, type ApiPipeline, type OperationSpec } from './request-pipeline.js';
import type { IssuingAuthority } from '../../application/certificates/issuing-authority.port.js';
import { certificatePem } from '#libs/x509';

export type IssuingCaRoutesDeps = {
  readonly authority: IssuingAuthority;
  /** Whether the tenant exists (identity's tenants, as the vault's RBAC read model knows them). */
  readonly isKnownTenant: (tenantId: string) => boolean;
};

const OP: OperationSpec = { name: 'IssuingCaGet', kind: 'admin' };

/**
 * The one file a user installs to trust every certificate the `Keyledger` issuer issues for a
 * tenant (Keyledger's administration API, not Azure's; used by `keyledger ca export`):
 *
 *   GET /admin/issuing-ca                    the caller's tenant
 *   GET /admin/tenants/{tenant}/issuing-ca   a tenant by id
 *
 * JSON (subject, validity, SHA-256 fingerprint, PEM) by default; the PEM alone with
 * `?format=pem` or `Accept: application/x-pem-file`. The CA is created on first use.
 */
export function registerIssuingCaRoutes(api: ApiPipeline, deps: IssuingCaRoutesDeps): void {
  const answer = async (req: FastifyRequest, reply: FastifyReply, tenantId: string) => {
    const st = apiRequest(req);
    if (!/^[0-9a-zA-Z][0-9a-zA-Z._-]{0,127}$/.test(tenantId) || !deps.isKnownTenant(tenantId)) throw new HttpProblem(404, 'TenantNotFound', `The tenant '${tenantId.slice(0, 128)}' was not found.`);
    st.audit.tenant = tenantId.toLowerCase();
    const der = await deps.authority.caCertificate(tenantId);
    const pem = certificatePem(der);
    const wantsPem = st.query.get('format') === 'pem' || /application\/x-pem-file/i.test(String(req.headers.accept ?? ''));
    if (wantsPem) return reply.type('application/x-pem-file').send(pem);
    const cert = new X509Certificate(Buffer.from(der));
    return {
      tenantId: tenantId.toLowerCase(),
      subject: cert.subject.split('\n').join(', '),
      notBefore: Math.floor(new Date(cert.validFrom).getTime() / 1000),
      notAfter: Math.floor(new Date(cert.validTo).getTime() / 1000),
      sha256Fingerprint: createHash('sha256').update(der).digest('hex'),
      pem,
    };
  };
  api.route('GET', '/admin/issuing-ca', OP, async (req, reply) => {
    const caller = apiRequest(req).caller;
    if (!caller) throw new Error('admin request without caller');
    return answer(req, reply, caller.tenantId);
  });
  api.route('GET', '/admin/tenants/:tenant/issuing-ca', OP, async (req, reply) => answer(req, reply, (req.params as { tenant?: string }).tenant ?? ''));
}
