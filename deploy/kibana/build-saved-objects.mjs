// Generates keyledger.ndjson (Kibana saved objects for the audit indices): node deploy/kibana/build-saved-objects.mjs
// Fields used here must exist in apps/audit's index templates (checked by kibana-saved-objects.unit.spec.ts).
import { writeFileSync } from 'node:fs';
const DV = 'keyledger-audit';
const ref = (id = DV) => [{ name: 'kibanaSavedObjectMeta.searchSourceJSON.index', type: 'index-pattern', id }];
const ss = (query) => JSON.stringify({ query: { query, language: 'kuery' }, filter: [], indexRefName: 'kibanaSavedObjectMeta.searchSourceJSON.index' });
const objects = [];
objects.push({ type: 'index-pattern', id: DV, attributes: { title: 'keyledger-audit', name: 'Keyledger audit records', timeFieldName: '@timestamp', allowHidden: false }, references: [] });
objects.push({ type: 'index-pattern', id: 'keyledger-objects', attributes: { title: 'keyledger-objects', name: 'Keyledger vault objects (current state)', timeFieldName: '@timestamp', allowHidden: false }, references: [] });
const search = (id, title, description, query, columns) => ({
  type: 'search', id,
  attributes: { title, description, columns, sort: [['@timestamp', 'desc']], grid: {}, hideChart: false, isTextBasedQuery: false, kibanaSavedObjectMeta: { searchSourceJSON: ss(query) } },
  references: ref(),
});
objects.push(search('keyledger-audit-denied-requests', 'Keyledger: denied requests', 'Requests refused with 401 or 403 (authentication failures, RBAC denials).', 'event.type:denied or http.response.status_code:(401 or 403)', ['event.action', 'user.id', 'azure.identity.appid', 'source.ip', 'http.response.status_code', 'event.reason', 'url.original']));
objects.push(search('keyledger-audit-key-usage-by-principal', 'Keyledger: key usage by principal', 'Operations on keys, with who did them (sort or split by user.id).', 'keyledger.object.kind:key', ['user.id', 'event.action', 'keyledger.object.ref', 'keyledger.algorithm', 'event.outcome', 'source.ip']));
objects.push(search('keyledger-audit-purges-and-deletes', 'Keyledger: purges and deletes', 'Deletions and purges of vaults, secrets, keys and certificates, and their recoveries.', 'event.type:deletion or event.action:*Purge* or event.action:*Delete* or event.action:*Recover*', ['event.action', 'keyledger.object.ref', 'user.id', 'event.outcome', 'http.response.status_code']));
const vis = (id, title, visState, query = '') => ({
  type: 'visualization', id,
  attributes: { title, description: '', uiStateJSON: '{}', version: 1, visState: JSON.stringify({ title, ...visState }), kibanaSavedObjectMeta: { searchSourceJSON: ss(query) } },
  references: ref(),
});
const xyParams = (type) => ({
  type, grid: { categoryLines: false }, addTooltip: true, addLegend: true, legendPosition: 'right', times: [], addTimeMarker: false, detailedTooltip: true, palette: { type: 'palette', name: 'default' }, isVislibVis: true, fittingFunction: 'linear', thresholdLine: { show: false, value: 10, width: 1, style: 'full', color: '#E7664C' }, labels: { show: false },
  categoryAxes: [{ id: 'CategoryAxis-1', type: 'category', position: 'bottom', show: true, style: {}, scale: { type: 'linear' }, labels: { show: true, filter: true, truncate: 100 }, title: {} }],
  valueAxes: [{ id: 'ValueAxis-1', name: 'LeftAxis-1', type: 'value', position: 'left', show: true, style: {}, scale: { type: 'linear', mode: 'normal' }, labels: { show: true, rotate: 0, filter: false, truncate: 100 }, title: { text: 'Count' } }],
  seriesParams: [{ show: true, type: type === 'line' ? 'line' : 'histogram', mode: 'stacked', data: { label: 'Count', id: '1' }, valueAxis: 'ValueAxis-1', drawLinesBetweenPoints: true, lineWidth: 2, showCircles: true, interpolate: 'linear' }],
});
const count = { id: '1', enabled: true, type: 'count', params: {}, schema: 'metric' };
const overTime = { id: '2', enabled: true, type: 'date_histogram', params: { field: '@timestamp', useNormalizedEsInterval: true, scaleMetricValues: false, interval: 'auto', drop_partials: false, min_doc_count: 1, extended_bounds: {} }, schema: 'segment' };
const split = (field, size = 10) => ({ id: '3', enabled: true, type: 'terms', params: { field, orderBy: '1', order: 'desc', size, otherBucket: true, otherBucketLabel: 'Other', missingBucket: false, missingBucketLabel: 'Missing' }, schema: 'group' });
const rows = (id, field, size, label) => ({ id, enabled: true, type: 'terms', params: { field, orderBy: '1', order: 'desc', size, otherBucket: false, otherBucketLabel: 'Other', missingBucket: false, missingBucketLabel: 'Missing', customLabel: label }, schema: 'bucket' });
const tableParams = { perPage: 10, showPartialRows: false, showMetricsAtAllLevels: false, showTotal: false, totalFunc: 'sum', percentageCol: '', autoFitRowToContent: false };
objects.push(vis('keyledger-audit-operations-over-time', 'Keyledger: operations over time', { type: 'histogram', aggs: [count, overTime, split('event.action')], params: xyParams('histogram') }));
objects.push(vis('keyledger-audit-top-keys', 'Keyledger: top keys', { type: 'table', aggs: [count, rows('2', 'keyledger.object.ref', 20, 'Key (vault/keys/name)'), rows('3', 'event.action', 5, 'Operation')], params: tableParams }, 'keyledger.object.kind:key'));
objects.push(vis('keyledger-audit-top-objects', 'Keyledger: top secrets, keys and certificates', { type: 'table', aggs: [count, rows('2', 'keyledger.object.ref', 20, 'Object'), rows('3', 'keyledger.object.kind', 3, 'Kind')], params: tableParams }));
objects.push(vis('keyledger-audit-top-callers', 'Keyledger: top callers', { type: 'table', aggs: [count, rows('2', 'user.id', 20, 'Caller (oid or appid)'), rows('3', 'service.name', 4, 'Service')], params: tableParams }));
objects.push(vis('keyledger-audit-failures', 'Keyledger: failures', { type: 'histogram', aggs: [count, overTime, { ...split('http.response.status_code'), params: { ...split('http.response.status_code').params } }], params: xyParams('histogram') }, 'event.outcome:failure'));
objects.push(vis('keyledger-audit-failures-by-operation', 'Keyledger: failures by operation and reason', { type: 'table', aggs: [count, rows('2', 'event.action', 15, 'Operation'), rows('3', 'event.reason', 5, 'Reason')], params: tableParams }, 'event.outcome:failure'));
const panels = [
  ['keyledger-audit-operations-over-time', 0, 0, 48, 14],
  ['keyledger-audit-top-keys', 0, 14, 16, 15],
  ['keyledger-audit-top-objects', 16, 14, 16, 15],
  ['keyledger-audit-top-callers', 32, 14, 16, 15],
  ['keyledger-audit-failures', 0, 29, 24, 14],
  ['keyledger-audit-failures-by-operation', 24, 29, 24, 14],
];
const panelsJSON = panels.map(([id, x, y, w, h], i) => ({ version: '9.2.4', type: 'visualization', gridData: { x, y, w, h, i: String(i + 1) }, panelIndex: String(i + 1), embeddableConfig: { enhancements: {} }, panelRefName: `panel_${i + 1}` }));
const searchPanels = ['keyledger-audit-denied-requests', 'keyledger-audit-purges-and-deletes'].map((id, i) => ({ version: '9.2.4', type: 'search', gridData: { x: i * 24, y: 43, w: 24, h: 15, i: String(panels.length + i + 1) }, panelIndex: String(panels.length + i + 1), embeddableConfig: { enhancements: {} }, panelRefName: `panel_${panels.length + i + 1}`, id }));
objects.push({
  type: 'dashboard', id: 'keyledger-audit-overview',
  attributes: {
    title: 'Keyledger audit overview',
    description: 'Who did what to which key, from where — every request to identity, vault, crypto and audit (allowed or denied), from the tamper-evident ledger.',
    panelsJSON: JSON.stringify([...panelsJSON, ...searchPanels.map(({ id: _id, ...p }) => p)]),
    optionsJSON: JSON.stringify({ useMargins: true, syncColors: false, syncCursor: true, syncTooltips: false, hidePanelTitles: false }),
    timeRestore: true, timeFrom: 'now-24h', timeTo: 'now', refreshInterval: { pause: false, value: 10000 },
    kibanaSavedObjectMeta: { searchSourceJSON: JSON.stringify({ query: { query: '', language: 'kuery' }, filter: [] }) },
  },
  references: [...panels.map(([id], i) => ({ name: `panel_${i + 1}`, type: 'visualization', id })), ...searchPanels.map((p) => ({ name: p.panelRefName, type: 'search', id: p.id }))],
});
writeFileSync(process.argv[2] ?? new URL('./keyledger.ndjson', import.meta.url), objects.map((o) => JSON.stringify(o)).join('\n') + '\n');
console.log(objects.length, 'objects');
