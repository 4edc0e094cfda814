import { describe, expect, it } from '@jest/globals';
import { queryOf, requireApiVersion } from './api-version.js';
import { HttpProblem } from './azure-errors.js';
import { challengeResource, kindOfOrigin, portOfUrl, resolveVaultHost, vaultAudiences } from './vault-host.js';

const opts = { domain: 'localhost', defaultVault: 'dev', publicUrl: '' };

describe('vault addressing by host name', () => {
  it('selects {vault}.vault.<domain> with or without a port, keeping the client-visible origin', () => {
    expect(resolveVaultHost('team-a.vault.localhost:8443', opts)).toEqual({ vault: 'team-a', kind: 'vault', origin: 'https://team-a.vault.localhost:8443' });
    expect(resolveVaultHost('Team-A.Vault.LocalHost', opts)).toEqual({ vault: 'team-a', kind: 'vault', origin: 'https://team-a.vault.localhost' });
    expect(resolveVaultHost('x.vault.example.com', { ...opts, domain: 'example.com' })?.vault).toBe('x');
  });

  it('serves the default vault on loopback names', () => {
    for (const host of ['localhost:8443', '127.0.0.1:8443', '[::1]:8443', 'localhost']) expect(resolveVaultHost(host, opts)?.vault).toBe('dev');
    expect(resolveVaultHost('localhost:8443', opts)?.origin).toBe('https://localhost:8443');
  });

  it('rejects other hosts, nested labels and malformed Host headers', () => {
    for (const host of [undefined, '', 'vault.localhost', 'a.b.vault.localhost', 'example.com', 'dev.vault.localhost/evil', 'dev.vault.localhost:8443"x']) {
      expect(resolveVaultHost(host, opts)).toBeUndefined();
    }
  });

  it('builds ids from a configured public URL behind a proxy', () => {
    expect(resolveVaultHost('internal:8443', { ...opts, domain: 'internal' })).toBeUndefined();
    expect(resolveVaultHost('kv1.vault.example.com', { domain: 'example.com', defaultVault: 'dev', publicUrl: 'https://{vault}.vault.example.com/' })?.origin).toBe('https://kv1.vault.example.com');
  });
});

describe('Managed HSM pool addressing', () => {
  it('selects {pool}.managedhsm.<domain>, a namespace of its own beside the vaults', () => {
    expect(resolveVaultHost('dev.managedhsm.localhost:8443', opts)).toEqual({ vault: 'dev', kind: 'managedHsm', origin: 'https://dev.managedhsm.localhost:8443' });
    expect(resolveVaultHost('dev.vault.localhost:8443', opts)).toEqual({ vault: 'dev', kind: 'vault', origin: 'https://dev.vault.localhost:8443' });
    expect(resolveVaultHost('Pool-1.ManagedHSM.Example.com', { ...opts, domain: 'example.com' })).toEqual({ vault: 'pool-1', kind: 'managedHsm', origin: 'https://pool-1.managedhsm.example.com' });
  });

  it('rejects the bare pool domain and nested labels; loopback names stay the default vault', () => {
    for (const host of ['managedhsm.localhost', 'a.b.managedhsm.localhost:8443', 'dev.managedhsm.example.com']) expect(resolveVaultHost(host, opts)).toBeUndefined();
    expect(resolveVaultHost('localhost:8443', opts)?.kind).toBe('vault');
  });

  it('builds pool ids from their own public URL template ({pool}), not the vaults\'', () => {
    const behindProxy = { domain: 'example.com', defaultVault: 'dev', publicUrl: 'https://{vault}.vault.example.com', publicHsmUrl: 'https://{pool}.managedhsm.example.com:9443/' };
    expect(resolveVaultHost('p1.managedhsm.example.com', behindProxy)?.origin).toBe('https://p1.managedhsm.example.com:9443');
    expect(resolveVaultHost('p1.vault.example.com', behindProxy)?.origin).toBe('https://p1.vault.example.com');
    expect(portOfUrl('https://{pool}.managedhsm.example.com:9443')).toBe(9443);
  });

  it('tells a pool origin from a vault origin', () => {
    expect(kindOfOrigin('https://dev.managedhsm.localhost:8443', 'localhost')).toBe('managedHsm');
    for (const o of ['https://dev.vault.localhost:8443', 'https://localhost:8443', 'not a url', undefined]) expect(kindOfOrigin(o, 'localhost')).toBe('vault');
  });

  it('challenges with https://managedhsm.<domain>, with the port when not 443', () => {
    const audiences = vaultAudiences('localhost', [8443], 'managedHsm');
    expect(audiences).toEqual(['https://managedhsm.localhost', 'https://managedhsm.localhost:8443']);
    expect(challengeResource(audiences, 'https://dev.managedhsm.localhost:8443')).toBe('https://managedhsm.localhost:8443');
    expect(challengeResource(vaultAudiences('example.com', [443], 'managedHsm'), 'https://p.managedhsm.example.com')).toBe('https://managedhsm.example.com');
  });
});

describe('token audiences and the challenge resource', () => {
  it('accepts https://vault.<domain> and the same with each port other than 443', () => {
    expect(vaultAudiences('localhost', [8443])).toEqual(['https://vault.localhost', 'https://vault.localhost:8443']);
    expect(vaultAudiences('Example.COM', [443, undefined])).toEqual(['https://vault.example.com']);
    expect(vaultAudiences('localhost', [8443, 8443, 9443])).toEqual(['https://vault.localhost', 'https://vault.localhost:8443', 'https://vault.localhost:9443']);
  });

  it('reads the port of a public URL template', () => {
    expect(portOfUrl('https://{vault}.vault.example.com:9443/')).toBe(9443);
    expect(portOfUrl('https://{vault}.vault.example.com')).toBeUndefined();
    expect(portOfUrl('')).toBeUndefined();
  });

  it('names the port of the origin when a token for it is accepted', () => {
    const audiences = vaultAudiences('localhost', [8443]);
    expect(challengeResource(audiences, 'https://dev.vault.localhost:8443')).toBe('https://vault.localhost:8443');
    expect(challengeResource(audiences, 'https://localhost:8443')).toBe('https://vault.localhost:8443');
    expect(challengeResource(audiences, 'https://dev.vault.localhost')).toBe('https://vault.localhost');
    expect(challengeResource(audiences, 'https://dev.vault.localhost:7000')).toBe('https://vault.localhost');
    expect(challengeResource(audiences, undefined)).toBe('https://vault.localhost');
  });
});

describe('api-version', () => {
  const problem = (fn: () => unknown): HttpProblem | undefined => {
    try {
      fn();
      return undefined;
    } catch (err) {
      return err as HttpProblem;
    }
  };

  it('accepts every published version and the recorded previews, with a percent-encoded key', () => {
    for (const v of ['2016-10-01', '7.0', '7.4', '7.6', '7.6-preview.2', '2025-07-01', '2026-04-01', '2026-03-01-preview']) expect(requireApiVersion(queryOf(`/secrets?api-version=${v}`))).toBe(v);
    expect(requireApiVersion(queryOf('/secrets?api%2Dversion=7.5'))).toBe('7.5');
  });

  it('answers 400 BadParameter for a missing or unknown version', () => {
    for (const url of ['/secrets', '/secrets?api-version=', '/secrets?api-version=7.7', '/secrets?api-version=latest']) {
      const p = problem(() => requireApiVersion(queryOf(url)));
      expect([url, p?.status, p?.code]).toEqual([url, 400, 'BadParameter']);
    }
  });
});
