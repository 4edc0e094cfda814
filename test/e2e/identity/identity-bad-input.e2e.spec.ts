import { describe, expect, it } from '@jest/globals';
import { bootstrap, httpsRequest, identityAdmin, postForm } from '../../support/identity.js';

type AadBody = { error: string; error_description: string; error_codes: number[]; correlation_id: string };

describe('identity token endpoint on bad input', () => {
  const b = bootstrap();
  const tokenUrl = `${b.authorityHost}/${b.tenantId}/oauth2/v2.0/token`;

  it('answers a wrong secret and an unknown client with the same error', async () => {
    const wrong = await postForm(tokenUrl, { grant_type: 'client_credentials', client_id: b.clientId, client_secret: 'not-the-secret', scope: 'https://vault.localhost/.default' });
    const unknown = await postForm(tokenUrl, { grant_type: 'client_credentials', client_id: '11111111-2222-3333-4444-555555555555', client_secret: 'x', scope: 'https://vault.localhost/.default' });
    for (const r of [wrong, unknown]) {
      expect(r.status).toBe(401);
      expect((r.json as AadBody).error).toBe('invalid_client');
      expect((r.json as AadBody).error_codes).toEqual([7000215]);
      expect(r.text).not.toContain('not-the-secret');
    }
  });

  it.each([
    ['no grant_type', { client_id: 'x' }, 400, 'invalid_request'],
    ['an unknown grant type', { grant_type: 'password', client_id: 'x' }, 400, 'unsupported_grant_type'],
    ['no client_id', { grant_type: 'client_credentials' }, 400, 'invalid_request'],
    ['no scope', { grant_type: 'client_credentials', client_id: '11111111-2222-3333-4444-555555555555', client_secret: 'x' }, 400, 'invalid_scope'],
    ['an unknown resource', { grant_type: 'client_credentials', client_id: '11111111-2222-3333-4444-555555555555', client_secret: 'x', scope: 'https://evil.example/.default' }, 400, 'invalid_resource'],
    ['no credential', { grant_type: 'client_credentials', client_id: '11111111-2222-3333-4444-555555555555', scope: 'https://vault.localhost/.default' }, 401, 'invalid_client'],
    [
      'a garbage client assertion',
      { grant_type: 'client_credentials', client_id: '11111111-2222-3333-4444-555555555555', scope: 'https://vault.localhost/.default', client_assertion: 'a.b.c', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' },
      401,
      'invalid_client',
    ],
  ])('rejects %s in AAD shape', async (_what, form, status, error) => {
    const res = await postForm(tokenUrl, form as Record<string, string>);
    expect(res.status).toBe(status);
    const body = res.json as AadBody;
    expect(body.error).toBe(error);
    expect(body.error_codes.length).toBe(1);
    expect(body.error_description).toMatch(/^AADSTS\d+: /);
  });

  it('rejects a JSON body, an unknown tenant and a malformed form without a stack trace', async () => {
    const json = await httpsRequest(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":"client_credentials"}' });
    expect(json.status).toBe(400);
    expect((json.json as AadBody).error).toBe('invalid_request');
    const tenant = await postForm(`${b.authorityHost}/00000000-1111-2222-3333-444444444444/oauth2/v2.0/token`, { grant_type: 'client_credentials', client_id: b.clientId, client_secret: b.clientSecret, scope: 'https://vault.localhost/.default' });
    expect(tenant.status).toBe(400);
    const garbage = await httpsRequest(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '%%%===&&&' });
    expect(garbage.status).toBe(400);
    for (const r of [json, tenant, garbage]) expect(r.text).not.toMatch(/at \w+ \(|\.ts:\d+/);
  });

  it('stores nothing for a refused principal creation', async () => {
    const before = await identityAdmin('/admin/principals');
    const bad = await identityAdmin('/admin/principals', 'POST', { displayName: 'bad', kind: 'servicePrincipal', certificatePem: 'not a certificate' });
    expect(bad.status).toBe(400);
    expect((bad.json as { error: { code: string } }).error.code).toBe('BadParameter');
    const after = await identityAdmin('/admin/principals');
    expect((after.json as { value: unknown[] }).value.length).toBe((before.json as { value: unknown[] }).value.length);
  });

  it('refuses the admin API without a token and with a token for another resource', async () => {
    const none = await httpsRequest(`${b.authorityHost}/admin/principals`);
    expect(none.status).toBe(401);
    const res = await postForm(tokenUrl, { grant_type: 'client_credentials', client_id: b.clientId, client_secret: b.clientSecret, scope: 'https://vault.localhost/.default' });
    const vaultToken = (res.json as { access_token: string }).access_token;
    const wrongAud = await httpsRequest(`${b.authorityHost}/admin/principals`, { headers: { authorization: `Bearer ${vaultToken}` } });
    expect(wrongAud.status).toBe(401);
  });
});
