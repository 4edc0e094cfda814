import type { Command } from 'commander';
import { api, loadCredentials } from './client.js';

type VaultJson = {
  name: string;
  id: string;
  vaultUri: string;
  tenantId: string;
  properties: { softDeleteRetentionInDays: number; enablePurgeProtection: boolean; recoveryLevel: string };
  tags: Record<string, string>;
  created: number;
  deletedDate?: number;
  scheduledPurgeDate?: number;
};

const iso = (s: number | undefined): string => (s === undefined ? '' : new Date(s * 1000).toISOString());

function human(v: VaultJson): string {
  return [
    `vault ${v.name}`,
    `  vaultUri        ${v.vaultUri}`,
    `  id              ${v.id}`,
    `  tenantId        ${v.tenantId}`,
    `  retention       ${v.properties.softDeleteRetentionInDays} days (${v.properties.recoveryLevel})`,
    `  purgeProtection ${v.properties.enablePurgeProtection}`,
    `  tags            ${JSON.stringify(v.tags)}`,
    `  created         ${iso(v.created)}`,
    ...(v.deletedDate !== undefined ? [`  deleted         ${iso(v.deletedDate)}`, `  purge date      ${iso(v.scheduledPurgeDate)}`] : []),
  ].join('\n');
}

function table(rows: readonly VaultJson[], deleted: boolean): string {
  if (rows.length === 0) return '(none)';
  const cols = deleted ? ['name', 'deleted', 'purge date'] : ['name', 'vaultUri', 'retention', 'purgeProtection'];
  const cells = rows.map((v) =>
    deleted ? [v.name, iso(v.deletedDate), iso(v.scheduledPurgeDate)] : [v.name, v.vaultUri, `${v.properties.softDeleteRetentionInDays}d`, String(v.properties.enablePurgeProtection)],
  );
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: readonly string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cols), ...cells.map(line)].join('\n');
}

/**
 * `keyledger vault create|list|show|update|delete|recover|purge`: the vault service's admin API
 * (`/admin/vaults`), authenticated like the other commands, with a token for
 * `https://vault.<domain>`; the caller needs Key Vault Administrator at scope "/".
 */
export function registerVaultCommands(program: Command, json: () => boolean): void {
  const domain = process.env.KEYLEDGER_DOMAIN ?? 'localhost';
  const resource = `https://vault.${domain}`;
  const base = (): string => (process.env.KEYLEDGER_VAULT_URL ?? `https://localhost:${process.env.VAULT_PORT ?? '8443'}`).replace(/\/+$/, '');
  const call = (path: string, method = 'GET', payload?: unknown) => api(loadCredentials(), resource, `${base()}${path}`, method, payload);
  const print = (value: unknown, text: string): void => {
    process.stdout.write(json() ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  };
  const parseTags = (pairs: readonly string[] | undefined): Record<string, string> | undefined => {
    if (!pairs || pairs.length === 0) return undefined;
    return Object.fromEntries(
      pairs.map((p) => {
        const at = p.indexOf('=');
        if (at <= 0) throw new Error(`tag "${p}" must be key=value`);
        return [p.slice(0, at), p.slice(at + 1)];
      }),
    );
  };
  const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
  const enc = encodeURIComponent;

  const vault = program.command('vault').description('vaults (served at https://{vault}.vault.<domain>:8443)');
  vault
    .command('create <name>')
    .description('create a vault (soft delete always on)')
    .option('--retention-days <n>', 'soft-delete retention, 7-90 days', (x) => Number(x))
    .option('--enable-purge-protection', 'irreversible: deleted objects cannot be purged before their purge date')
    .option('--tag <key=value>', 'a tag (repeatable)', collect)
    .action(async (name: string, o: { retentionDays?: number; enablePurgeProtection?: boolean; tag?: string[] }) => {
      const tags = parseTags(o.tag);
      const body = (await call('/admin/vaults', 'POST', {
        name,
        ...(o.retentionDays !== undefined ? { softDeleteRetentionInDays: o.retentionDays } : {}),
        ...(o.enablePurgeProtection ? { enablePurgeProtection: true } : {}),
        ...(tags ? { tags } : {}),
      })) as VaultJson;
      print(body, human(body));
    });
  vault
    .command('list')
    .description('list vaults')
    .option('--deleted', 'list soft-deleted vaults instead')
    .action(async (o: { deleted?: boolean }) => {
      const body = (await call(o.deleted ? '/admin/deletedvaults' : '/admin/vaults')) as { value: VaultJson[] };
      print(body.value, table(body.value, Boolean(o.deleted)));
    });
  vault
    .command('show <name>')
    .description('show a vault')
    .option('--deleted', 'show a soft-deleted vault')
    .action(async (name: string, o: { deleted?: boolean }) => {
      const body = (await call(`${o.deleted ? '/admin/deletedvaults' : '/admin/vaults'}/${enc(name)}`)) as VaultJson;
      print(body, human(body));
    });
  vault
    .command('update <name>')
    .description('replace tags, or enable purge protection (irreversible)')
    .option('--tag <key=value>', 'a tag (repeatable; replaces all tags)', collect)
    .option('--enable-purge-protection', 'enable purge protection')
    .action(async (name: string, o: { tag?: string[]; enablePurgeProtection?: boolean }) => {
      const tags = parseTags(o.tag);
      const body = (await call(`/admin/vaults/${enc(name)}`, 'PATCH', { ...(tags ? { tags } : {}), ...(o.enablePurgeProtection ? { enablePurgeProtection: true } : {}) })) as VaultJson;
      print(body, human(body));
    });
  vault
    .command('delete <name>')
    .description('soft-delete a vault (recoverable until its purge date)')
    .action(async (name: string) => {
      const body = (await call(`/admin/vaults/${enc(name)}`, 'DELETE')) as VaultJson;
      print(body, `deleted ${body.name}; recoverable until ${iso(body.scheduledPurgeDate)}`);
    });
  vault
    .command('recover <name>')
    .description('recover a soft-deleted vault')
    .action(async (name: string) => {
      const body = (await call(`/admin/deletedvaults/${enc(name)}/recover`, 'POST')) as VaultJson;
      print(body, `recovered ${body.name}`);
    });
  vault
    .command('purge <name>')
    .description('permanently delete a soft-deleted vault and crypto-shred its secrets')
    .action(async (name: string) => {
      await call(`/admin/deletedvaults/${enc(name)}`, 'DELETE');
      print({ purged: name }, `purged ${name}`);
    });
}
