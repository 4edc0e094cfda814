import { describe, expect, it } from '@jest/globals';
import { firstPartyClient, redirectUriRegistered } from './first-party-clients.js';

describe('first-party clients', () => {
  it('the Azure CLI is a public client of any tenant, with the loopback redirect URI; other ids are not', () => {
    expect(firstPartyClient('t1', '04B07795-8DDB-461A-BBEE-02F9E1BF7B46')).toMatchObject({ app_id: '04b07795-8ddb-461a-bbee-02f9e1bf7b46', tenant_id: 't1', public_client: true, redirect_uris: ['http://localhost'] });
    expect(firstPartyClient('t1', '00000000-0000-0000-0000-000000000000')).toBeUndefined();
  });
});

describe('redirectUriRegistered', () => {
  it('matches the registered string, and an http loopback URI on any port with the same host and path', () => {
    expect(redirectUriRegistered(['https://app.example/cb'], 'https://app.example/cb')).toBe(true);
    expect(redirectUriRegistered(['http://localhost'], 'http://localhost:53123')).toBe(true);
    expect(redirectUriRegistered(['http://localhost'], 'http://localhost:53123/')).toBe(true);
    expect(redirectUriRegistered(['http://127.0.0.1/cb'], 'http://127.0.0.1:8400/cb')).toBe(true);
  });

  it('refuses another host, path, scheme or query, credentials, a fragment, and a non-loopback port change', () => {
    for (const uri of ['http://evil.example:53123', 'http://localhost:53123/other', 'https://localhost:53123', 'http://localhost:1/?x=1', 'http://user:pw@localhost:1', 'http://localhost:1/#f', 'not a uri']) {
      expect(redirectUriRegistered(['http://localhost'], uri)).toBe(false);
    }
    expect(redirectUriRegistered(['http://127.0.0.1'], 'http://localhost:5000')).toBe(false);
    expect(redirectUriRegistered(['https://app.example/cb'], 'https://app.example:8443/cb')).toBe(false);
  });
});
