/**
 * The reviewed list of places where Azure itself answers differently from its published
 * specification, and Keyledger follows Azure. Each one loosens the fuzzer's working copy of the
 * specification (the vendored copy in test/fuzz/openapi/ stays byte-for-byte Microsoft's) in
 * exactly one place, with the reason and the evidence. Anything schemathesis reports that is not
 * covered here fails the run. Keep this list short; README.md in this folder mirrors it.
 */
export type Spec = { paths: Record<string, Record<string, Operation>>; definitions?: Record<string, Schema>; parameters?: Record<string, Parameter>; info: { version: string } };
export type Schema = { type?: string; properties?: Record<string, Schema>; [k: string]: unknown };
export type Parameter = { name: string; in: string; type?: string; enum?: string[]; [k: string]: unknown };
export type Operation = { operationId?: string; parameters?: (Parameter | { $ref: string })[]; responses: Record<string, { schema?: unknown; headers?: Record<string, unknown>; [k: string]: unknown }>; [k: string]: unknown };

export type Deviation = {
  readonly id: string;
  /** What Azure does that the specification does not say. */
  readonly azure: string;
  /** Why Keyledger answers as Azure does (the SDKs' expectations, recorded traffic). */
  readonly reason: string;
  /** Loosens the working copy; returns how many places it changed (0 = the spec no longer needs it). */
  readonly apply: (spec: Spec) => number;
};

const listResults = (spec: Spec): Schema[] =>
  Object.entries(spec.definitions ?? {})
    .filter(([name, d]) => /ListResult$/.test(name) && d.properties?.nextLink !== undefined)
    .map(([, d]) => d);

export const DEVIATIONS: readonly Deviation[] = [
  {
    id: 'nextlink-null',
    azure: 'The last page of every list carries "nextLink": null; the specification types nextLink as a non-nullable string.',
    reason:
      'Recorded Azure sessions (test/conformance/recordings/) end every list with nextLink null, and the SDKs stop paging on it. Keyledger sends what Azure sends.',
    apply: (spec) => {
      let n = 0;
      for (const d of listResults(spec)) {
        const next = d.properties?.nextLink;
        if (next && next['x-nullable'] !== true) {
          next['x-nullable'] = true;
          n += 1;
        }
      }
      return n;
    },
  },
];

/**
 * Not deviations: how the fuzzer is pointed at one api-version. The specifications type
 * `api-version` as any non-empty string; fuzzed values would test only the api-version check (which
 * has its own specs), so positive cases send the file's own version.
 */
export function pinApiVersion(spec: Spec): void {
  for (const p of Object.values(spec.parameters ?? {})) {
    if (p.name === 'api-version' && p.in === 'query') p.enum = [spec.info.version];
  }
  for (const methods of Object.values(spec.paths)) {
    for (const op of Object.values(methods)) {
      for (const p of op.parameters ?? []) {
        if ('name' in p && p.name === 'api-version' && p.in === 'query') (p as Parameter).enum = [spec.info.version];
      }
    }
  }
}
