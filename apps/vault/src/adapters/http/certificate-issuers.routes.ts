import type { FastifyRequest } from 'fastify';
import { CertificateContactDataActions, CertificateDataActions, CertificateIssuerDataActions } from '#libs/auth';
import type { CertificateIssuersService, IssuerView } from '../../application/certificate-issuers/certificate-issuers.service.js';
import { pageSize } from '../../application/secrets/paging.js';
import { assertIssuerName, parseContacts, parseSetIssuer, parseUpdateIssuer, type Contact } from '../../domain/certificate-issuer/issuer.rules.js';
import { dataPlane, type ApiPipeline, type ApiRequest, type OperationSpec } from './request-pipeline.js';

/**
 * Certificate issuers and contacts: Azure's `/certificates/issuers[/{issuer-name}]` and
 * `/certificates/contacts`, with Azure's audit operation names and data actions (issuers:
 * `certificatecas/read|write|delete`; contacts: `certificatecontacts/write`, read with
 * `certificates/read`). RBAC applies at the vault's `/certificates` scope.
 */
const op = (name: string, action: string): OperationSpec => ({ name, kind: 'data', action, collection: 'certificates' });

const OPS = {
  issuerSet: op('CertificateIssuerSet', CertificateIssuerDataActions.write),
  issuerUpdate: op('CertificateIssuerUpdate', CertificateIssuerDataActions.write),
  issuerGet: op('CertificateIssuerGet', CertificateIssuerDataActions.read),
  issuerDelete: op('CertificateIssuerDelete', CertificateIssuerDataActions.delete),
  issuerList: op('CertificateIssuersList', CertificateIssuerDataActions.read),
  contactsGet: op('CertificateContactsGet', CertificateDataActions.read),
  contactsSet: op('CertificateContactsSet', CertificateContactDataActions.write),
  contactsDelete: op('CertificateContactsDelete', CertificateContactDataActions.write),
} as const;

/** IssuerBundle: `credentials.account_id` only (the password is never answered); `org_details` as Azure answers it. */
function issuerBundle(origin: string, i: IssuerView): Record<string, unknown> {
  return {
    id: `${origin}/certificates/issuers/${i.name}`,
    provider: i.provider,
    ...(i.accountId !== null ? { credentials: { account_id: i.accountId } } : {}),
    ...(i.organization !== null ? { org_details: { ...(i.organization.id !== null ? { id: i.organization.id } : {}), zip: 0, admin_details: i.organization.admin_details } } : {}),
    attributes: { enabled: i.enabled, created: i.created, updated: i.updated },
  };
}

function contactsBody(origin: string, contacts: readonly Contact[]): Record<string, unknown> {
  return { id: `${origin}/certificates/contacts`, contacts };
}

/** The issuer the request names, validated, and named in its audit record. */
function issuerParam(req: FastifyRequest, st: ApiRequest): string {
  const name = assertIssuerName((req.params as { name?: string }).name ?? '');
  st.audit.objectName = name;
  st.audit.objectId = `${st.origin}/certificates/issuers/${name}`;
  return name;
}

export type CertificateIssuerRoutesDeps = { readonly issuers: CertificateIssuersService };

export function registerCertificateIssuerRoutes(api: ApiPipeline, deps: CertificateIssuerRoutesDeps): void {
  const { issuers } = deps;

  const list = async (req: FastifyRequest) => {
    const { st, vault } = dataPlane(req);
    const max = st.query.get('maxresults');
    const page = await issuers.list(vault, st.query.get('$skiptoken') ?? undefined, pageSize(max ?? undefined));
    const next =
      page.next === null
        ? null
        : `${st.origin}/certificates/issuers?api-version=${encodeURIComponent(st.apiVersion)}&$skiptoken=${page.next}${max !== null ? `&maxresults=${encodeURIComponent(max)}` : ''}`;
    return { value: page.items.map((i) => ({ id: `${st.origin}/certificates/issuers/${i.name}`, provider: i.provider })), nextLink: next };
  };
  api.route('GET', '/certificates/issuers', OPS.issuerList, list);
  api.route('GET', '/certificates/issuers/', OPS.issuerList, list);

  const get = async (req: FastifyRequest) => {
    const { st, vault } = dataPlane(req);
    return issuerBundle(st.origin, await issuers.get(vault, issuerParam(req, st)));
  };
  api.route('GET', '/certificates/issuers/:name', OPS.issuerGet, get);

  const set = async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    const name = issuerParam(req, st);
    return issuerBundle(st.origin, await issuers.set(vault, name, parseSetIssuer(req.body), caller));
  };
  api.route('PUT', '/certificates/issuers/:name', OPS.issuerSet, set);

  const update = async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    const name = issuerParam(req, st);
    return issuerBundle(st.origin, await issuers.update(vault, name, parseUpdateIssuer(req.body), caller));
  };
  api.route('PATCH', '/certificates/issuers/:name', OPS.issuerUpdate, update);

  const del = async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    return issuerBundle(st.origin, await issuers.delete(vault, issuerParam(req, st), caller));
  };
  api.route('DELETE', '/certificates/issuers/:name', OPS.issuerDelete, del);

  api.route('GET', '/certificates/contacts', OPS.contactsGet, async (req: FastifyRequest) => {
    const { st, vault } = dataPlane(req);
    return contactsBody(st.origin, await issuers.getContacts(vault));
  });
  api.route('PUT', '/certificates/contacts', OPS.contactsSet, async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    return contactsBody(st.origin, await issuers.setContacts(vault, parseContacts(req.body), caller));
  });
  api.route('DELETE', '/certificates/contacts', OPS.contactsDelete, async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    return contactsBody(st.origin, await issuers.deleteContacts(vault, caller));
  });
}
