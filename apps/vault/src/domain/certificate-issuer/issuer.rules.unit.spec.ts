import { describe, expect, it } from '@jest/globals';
import { DomainError } from '#libs/kernel';
import { assertIssuerName, isBuiltInIssuer, parseContacts, parseSetIssuer, parseUpdateIssuer } from './issuer.rules.js';

const refused = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    if (err instanceof DomainError) return `${err.code}:${String(err.details.reason)}`;
    throw err;
  }
  throw new Error('expected BadParameter');
};

describe('issuer and contacts rules (Azure certificates.json shapes)', () => {
  it('parses a PUT as Azure sends it, the password kept apart from what is answered', () => {
    expect(
      parseSetIssuer({ provider: 'Test', credentials: { account_id: 'keyvaultuser', pwd: 's3cret' }, org_details: { id: 'o1', admin_details: [{ first_name: 'John', last_name: 'Doe', email: 'admin@microsoft.com', phone: '4255555555', extra: 1 }] }, attributes: { enabled: false } }),
    ).toEqual({ provider: 'Test', accountId: 'keyvaultuser', password: 's3cret', organization: { id: 'o1', adminDetails: [{ first_name: 'John', last_name: 'Doe', email: 'admin@microsoft.com', phone: '4255555555' }] }, enabled: false });
    // The JS SDK's updateIssuer always sends credentials, possibly empty: nothing changes then.
    expect(parseUpdateIssuer({ credentials: {} })).toEqual({});
  });

  it('refuses what Azure refuses, without echoing a password', () => {
    expect(refused(() => parseSetIssuer({ credentials: { account_id: 'a' } }))).toBe('BadParameter:ProviderMissing');
    expect(refused(() => parseSetIssuer({ provider: 'Test', credentials: [] }))).toBe('BadParameter:Type');
    expect(refused(() => parseSetIssuer({ provider: 'Test', credentials: { pwd: 42 } }))).toBe('BadParameter:Type');
    expect(refused(() => parseSetIssuer({ provider: 'Test', attributes: { enabled: 'yes' } }))).toBe('BadParameter:Type');
    expect(refused(() => parseUpdateIssuer({ provider: ' ' }))).toBe('BadParameter:ProviderEmpty');
    expect(refused(() => parseSetIssuer(undefined))).toBe('BadParameter:BodyMissing');
    expect(refused(() => assertIssuerName('bad_name'))).toBe('BadParameter:InvalidName');
    try {
      parseSetIssuer({ provider: 'Test', credentials: { pwd: 'x'.repeat(5000) } });
    } catch (err) {
      expect((err as Error).message).not.toContain('xxxx');
    }
  });

  it('knows the built-in issuers case-insensitively', () => {
    expect(['Self', 'unknown', 'KEYLEDGER'].map(isBuiltInIssuer)).toEqual([true, true, true]);
    expect(isBuiltInIssuer('DigiCert')).toBe(false);
  });

  it('parses contacts, each with an email address', () => {
    expect(parseContacts({ contacts: [{ email: 'a@a.com', name: 'a', phone: '1' }, { email: 'b@b.com' }] })).toEqual([{ email: 'a@a.com', name: 'a', phone: '1' }, { email: 'b@b.com' }]);
    expect(refused(() => parseContacts({ contacts: [] }))).toBe('BadParameter:ContactsMissing');
    expect(refused(() => parseContacts({ contacts: [{ name: 'a' }] }))).toBe('BadParameter:EmailMissing');
  });
});
