import { afterAll, describe, expect, it } from '@jest/globals';
import { createEsClient } from '#libs/platform';
import { stackEnv, suffix } from '../support/stack-env.js';

describe('Elasticsearch (local stack)', () => {
  const es = createEsClient(stackEnv.elasticsearchUrl);
  const index = `stack-test-${suffix()}`;
  afterAll(async () => {
    await es.indices.delete({ index, ignore_unavailable: true });
    await es.close();
  });

  it('indexes and searches a document with the official client', async () => {
    const health = await es.cluster.health({ wait_for_status: 'yellow', timeout: '10s' });
    expect(['green', 'yellow']).toContain(health.status);
    await es.indices.create({
      index,
      settings: { number_of_shards: 1, number_of_replicas: 0 },
      mappings: { properties: { '@timestamp': { type: 'date' }, 'event.action': { type: 'keyword' }, message: { type: 'text' } } },
    });
    await es.bulk({
      refresh: 'wait_for',
      operations: [
        { index: { _index: index, _id: '1' } },
        { '@timestamp': '2026-11-28T10:00:00Z', 'event.action': 'SecretGet', message: 'read a secret' },
        { index: { _index: index, _id: '2' } },
        { '@timestamp': '2026-11-28T10:01:00Z', 'event.action': 'KeySign', message: 'signed a digest' },
      ],
    });
    const res = await es.search<{ 'event.action': string }>({
      index,
      query: { bool: { filter: [{ term: { 'event.action': 'KeySign' } }, { range: { '@timestamp': { gte: '2026-11-28T00:00:00Z' } } }] } },
      aggs: { actions: { terms: { field: 'event.action' } } },
    });
    expect(res.hits.hits.map((h) => h._id)).toEqual(['2']);
    const full = await es.search({ index, query: { match: { message: 'secret' } } });
    expect(full.hits.hits.map((h) => h._id)).toEqual(['1']);
  });
});
