import { describe, expect, it } from '@jest/globals';
import { compareEntry, ownItemsOnly, type Reply } from './replay.js';

const recorded = {
  RequestMethod: 'GET',
  RequestUri: 'https://fakevault.vault.azure.net/deletedsecrets?api-version=7.6',
  StatusCode: 200,
  ResponseHeaders: { 'Content-Type': 'application/json; charset=utf-8' },
  ResponseBody: { value: [{ id: 'https://fakevault.vault.azure.net/secrets/listed', recoveryId: 'r', attributes: {}, deletedDate: 1, scheduledPurgeDate: 2 }], nextLink: null },
} as unknown as Parameters<typeof compareEntry>[0];

const reply = (value: unknown[]): Reply => ({
  status: 200,
  headers: { 'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': 'x' },
  body: { value, nextLink: null },
  text: '',
});

const ours = { id: 'https://dev.vault.localhost:8443/secrets/listed-k1', recoveryId: 'r', attributes: {}, deletedDate: 1, scheduledPurgeDate: 2 };
const othersManagedSecret = { ...ours, id: 'https://dev.vault.localhost:8443/secrets/a-certificate', contentType: 'application/x-pkcs12', managed: true };

describe('conformance list pages of the shared development vault', () => {
  it("leaves other tests' secrets, keys and certificates out of the shape comparison", () => {
    expect(compareEntry(recorded, reply([ours, othersManagedSecret]), true)).toContain('unexpected keys {contentType, managed}');
    expect(compareEntry(recorded, ownItemsOnly(reply([ours, othersManagedSecret]), '-k1'), true)).toBeUndefined();
  });

  it('still finds an unexpected key on an item this replay created', () => {
    expect(compareEntry(recorded, ownItemsOnly(reply([{ ...ours, surprise: 1 }]), '-k1'), true)).toContain('unexpected keys {surprise}');
  });

  it('keeps items that are not vault objects (role assignments) as they are', () => {
    const assignment = { id: '/providers/Microsoft.Authorization/roleAssignments/abc', name: 'abc', type: 't', properties: {} };
    expect((ownItemsOnly(reply([assignment]), '-k1').body as { value: unknown[] }).value).toEqual([assignment]);
  });
});
