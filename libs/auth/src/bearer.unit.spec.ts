import { describe, expect, it } from '@jest/globals';
import { DomainError } from '#libs/kernel';
import { buildBearerChallenge, parseBearerToken } from './bearer.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).message).not.toContain('eyJ');
    return (err as DomainError).code;
  }
  throw new Error('no error');
}

describe('parseBearerToken', () => {
  it.each([
    [`Bearer ${TOKEN}`],
    [`bearer ${TOKEN}`],
    [`BEARER ${TOKEN}`],
    [`Bearer   ${TOKEN}  `],
    [`Bearer\t${TOKEN}`],
    [[`Bearer ${TOKEN}`]],
  ])('extracts the token from %j', (header) => {
    expect(parseBearerToken(header)).toBe(TOKEN);
  });

  it('accepts opaque token68 tokens with padding', () => {
    expect(parseBearerToken('Bearer abc+/def==')).toBe('abc+/def==');
  });

  it.each([
    ['absent', undefined, 'TokenMissing'],
    ['null', null, 'TokenMissing'],
    ['empty', '', 'TokenMissing'],
    ['blank', '   ', 'TokenMissing'],
    ['empty list', [], 'TokenMissing'],
    ['scheme only', 'Bearer', 'TokenMissing'],
    ['scheme and spaces', 'Bearer    ', 'TokenMissing'],
    ['Basic scheme', 'Basic dXNlcjpwYXNz', 'TokenMissing'],
    ['scheme prefix trick', `Bearerx ${TOKEN}`, 'TokenMissing'],
    ['two tokens', `Bearer ${TOKEN} ${TOKEN}`, 'TokenInvalid'],
    ['quoted token', `Bearer "${TOKEN}"`, 'TokenInvalid'],
    ['comma list', `Bearer ${TOKEN}, Basic x`, 'TokenInvalid'],
    ['header repeated', [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`], 'TokenInvalid'],
    ['CR/LF inside', `Bearer ${TOKEN}\r\nX-Evil: 1`, 'TokenInvalid'],
    ['huge', `Bearer ${'a'.repeat(20_000)}`, 'TokenInvalid'],
  ] as const)('%s → %s', (_name, header, code) => {
    expect(codeOf(() => parseBearerToken(header as string | readonly string[] | undefined | null))).toBe(code);
  });
});

describe('buildBearerChallenge', () => {
  it('produces exactly the header Azure Key Vault sends', () => {
    // Recorded from Azure (shared/conformance): Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="https://vault.azure.net"
    expect(buildBearerChallenge({ authority: 'https://login.microsoftonline.com', tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47', resource: 'https://vault.azure.net' })).toBe(
      'Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net"',
    );
  });

  it('keeps the port and drops trailing slashes on both values', () => {
    expect(buildBearerChallenge({ authority: 'https://localhost:9443/', tenantId: '11111111-2222-4333-8444-555555555555', resource: 'https://vault.localhost/' })).toBe(
      'Bearer authorization="https://localhost:9443/11111111-2222-4333-8444-555555555555", resource="https://vault.localhost"',
    );
  });

  it('supports scope= instead of resource=', () => {
    expect(buildBearerChallenge({ authority: 'https://id.example.com', tenantId: 't1', scope: 'https://vault.example.com/.default' })).toBe(
      'Bearer authorization="https://id.example.com/t1", scope="https://vault.example.com/.default"',
    );
  });

  it.each([
    ['http authority', { authority: 'http://id.example.com', tenantId: 't', resource: 'https://vault.example.com' }],
    ['http resource', { authority: 'https://id.example.com', tenantId: 't', resource: 'http://vault.example.com' }],
    ['quote injection in resource', { authority: 'https://id.example.com', tenantId: 't', resource: 'https://vault.example.com/"x' }],
    ['header injection in tenant', { authority: 'https://id.example.com', tenantId: 't\r\nSet-Cookie: a=b', resource: 'https://vault.example.com' }],
    ['tenant with a slash', { authority: 'https://id.example.com', tenantId: 'a/b', resource: 'https://vault.example.com' }],
    ['both resource and scope', { authority: 'https://id.example.com', tenantId: 't', resource: 'https://v.example.com', scope: 'https://v.example.com/.default' }],
    ['neither resource nor scope', { authority: 'https://id.example.com', tenantId: 't' }],
    ['not a URL', { authority: 'id.example.com', tenantId: 't', resource: 'https://vault.example.com' }],
  ])('refuses %s', (_name, options) => {
    expect(() => buildBearerChallenge(options)).toThrow();
  });
});
