/**
 * THE switch of the conformance suite: the recording folders under
 * `test/conformance/recordings/` that are replayed against the running services.
 *
 * Four are replayed: the secrets recordings, the keys recordings (by the keys rules in
 * replay.ts), the certificates recordings (see differences.json) and the Managed HSM
 * administration recordings (`keyvault-admin`: the pool's local RBAC and settings; its backup
 * recordings are not in this copy). The keys folder's `managedhsm/` files and the administration
 * folder go to the Managed HSM pool `dev` (`https://dev.managedhsm.localhost:8443`); a recording the server deliberately differs from is
 * listed, with its reason, in differences.json.
 *
 * `KEYLEDGER_CONFORMANCE_FOLDERS=keyvault-secrets,keyvault-keys` overrides the list for one run.
 */
export const REPLAYED_FOLDERS: readonly string[] = ['keyvault-secrets', 'keyvault-keys', 'keyvault-certificates', 'keyvault-admin'];

/** Every folder the repository holds recordings for (replayed or not). */
export const RECORDED_FOLDERS: readonly string[] = ['keyvault-secrets', 'keyvault-keys', 'keyvault-certificates', 'keyvault-admin'];

export function replayedFolders(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  const override = env.KEYLEDGER_CONFORMANCE_FOLDERS?.split(',').map((f) => f.trim()).filter(Boolean);
  if (!override?.length) return REPLAYED_FOLDERS;
  const unknown = override.filter((f) => !RECORDED_FOLDERS.includes(f));
  if (unknown.length) throw new Error(`KEYLEDGER_CONFORMANCE_FOLDERS names folders without recordings: ${unknown.join(', ')}`);
  return override;
}
