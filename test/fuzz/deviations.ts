/**
 * The reviewed list of places where Azure itself answers differently from its published
 * specification, and Keyledger follows Azure. Each one loosens the fuzzer's working copy of the
 * specification (the vendored copy in test/fuzz/openapi/ stays byte-for-byte Microsoft's) in
 * exactly one place, with the reason and the evidence. Anything schemathesis reports that is not
 * covered here fails the run. Keep this list short; README.md in this folder mirrors it.
 */
export type Spec = { paths: Record<string, Record<string, Operation>>; definitions?: Record<string, Schema>; parameters?: Record<string, Parameter>; info: { version: string }; produces?: string[] };
export type Schema = { type?: string; properties?: Record<string, Schema>; [k: string]: unknown };
export type Parameter = { name: string; in: string; type?: string; enum?: string[]; [k: string]: unknown };
export type Operation = { operationId?: string; parameters?: (Parameter | { $ref: string })[]; produces?: string[]; responses: Record<string, { schema?: unknown; headers?: Record<string, unknown>; [k: string]: unknown }>; [k: string]: unknown };

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

/** The long-running job bodies of a pool's full backup and restores (`FullBackupOperation`, `RestoreOperation`, `SelectiveKeyRestoreOperation`). */
const jobOperations = (spec: Spec): Schema[] => Object.values(spec.definitions ?? {}).filter((d) => d.properties?.jobId !== undefined && d.properties.status !== undefined);

/**
 * Data actions the service's own built-in Managed HSM roles carry (role definitions list,
 * recorded 2025) that the specification's `DataAction` enum does not name.
 */
export const DATA_ACTIONS_BEYOND_ENUM: readonly string[] = [
  'Microsoft.KeyVault/managedHsm/ekm/delete/action',
  'Microsoft.KeyVault/managedHsm/ekm/read/action',
  'Microsoft.KeyVault/managedHsm/ekm/write/action',
  'Microsoft.KeyVault/managedHsm/keys/derive/action',
  'Microsoft.KeyVault/managedHsm/keys/rotate/action',
  'Microsoft.KeyVault/managedHsm/settings/read/action',
  'Microsoft.KeyVault/managedHsm/settings/write/action',
];

/** Whether an operation's only success answer is a 204 without a body (the purges: `DELETE /deleted…/{name}`). */
const onlyNoContent = (op: Operation): boolean => {
  const ok = Object.entries(op.responses).filter(([status]) => /^2\d\d$/.test(status));
  return ok.length > 0 && ok.every(([status, r]) => status === '204' && r.schema === undefined);
};

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
  {
    id: 'purge-204-no-content-type',
    azure:
      'A purge (DELETE /deletedsecrets|deletedkeys|deletedcertificates/{name}) answers 204 with no body and no Content-Type; the specification documents the 204 without a body but declares `produces: ["application/json"]` for the whole document, which schemathesis applies to every answer of every operation.',
    reason:
      'Recorded Azure sessions answer purges 204 without Content-Type (shared/azure-openapi/README.md "Known gaps"; test/conformance/recordings/ purge entries), and there is no content to type. The document-wide `produces` moves onto every operation but those whose only success answer is a bodiless 204, so their answers are not content-type checked (their error bodies are still schema-checked). Swagger 2.0 cannot say "no content type" per status, hence per operation.',
    apply: (spec) => {
      const produces = spec.produces;
      const ops = Object.values(spec.paths).flatMap((methods) => Object.values(methods).filter((op): op is Operation => typeof op === 'object' && op !== null && 'responses' in op));
      const purges = ops.filter(onlyNoContent);
      if (!produces?.length || purges.length === 0) return 0;
      for (const op of ops) if (!purges.includes(op)) op.produces ??= [...produces];
      delete spec.produces;
      return purges.length;
    },
  },
  {
    id: 'job-fields-null',
    azure:
      'A Managed HSM backup or restore job answers "statusDetails": null until it has details, and a full backup "azureStorageBlobContainerUri": null until it has succeeded (the 202 and every poll); the specification types both as non-nullable strings.',
    reason:
      "Microsoft's recorded sessions of KeyVaultBackupClient (shared/conformance/upcoming/keyvault-admin/recorded-2025-02/keyvaultbackupclient_*: beginBackup, beginRestore, selectiveKeyRestore, preBackup, preRestore, api-version 7.6) carry these nulls in every 202 and poll before completion, and the SDKs' pollers read them so. Keyledger sends what Azure sends.",
    apply: (spec) => {
      let n = 0;
      for (const d of jobOperations(spec)) {
        for (const field of ['statusDetails', 'azureStorageBlobContainerUri']) {
          const p = d.properties?.[field];
          if (p && p['x-nullable'] !== true) {
            p['x-nullable'] = true;
            n += 1;
          }
        }
      }
      return n;
    },
  },
  {
    id: 'data-actions-beyond-enum',
    azure:
      "A pool's role definitions list includes its built-in roles with data actions the specification's DataAction enum does not name: Managed HSM EKM Administrator's ekm read/write/delete, and keys/rotate, keys/derive, settings/read and settings/write of the administrator roles.",
    reason:
      "Microsoft's recorded session of listing role definitions (test/conformance/recordings/keyvault-admin/keyvaultaccesscontrolclient_role_definitions__can_list_role_definitions.json) lists them; Keyledger lists the built-in roles with Azure's real ids and data actions so RBAC and the SDKs see the same roles. The enum gains exactly those seven values.",
    apply: (spec) => {
      const e = spec.definitions?.DataAction?.enum;
      if (!Array.isArray(e)) return 0;
      const missing = DATA_ACTIONS_BEYOND_ENUM.filter((a) => !e.includes(a));
      e.push(...missing);
      return missing.length;
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
