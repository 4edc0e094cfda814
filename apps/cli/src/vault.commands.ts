import type { Command } from 'commander';
import { api, loadCredentials } from './client.js';

type VaultJson = {
  name: string;
  id: string;
  vaultUri?: string;
  hsmUri?: string;
  tenantId: string;
  properties: { softDeleteRetentionInDays: number; enablePurgeProtection: boolean; recoveryLevel: string };
  tags: Record<string, string>;
  created: number;
  deletedDate?: number;
  scheduledPurgeDate?: number;
};

const iso = (s: number | undefined): string => (s === undefined ? '' : new Date(s * 1000).toISOString());

/** Vaults or Managed HSM pools: the same lifecycle under `/admin/vaults` or `/admin/managedhsms`. */
type Kind = { readonly command: string; readonly noun: string; readonly path: string; readonly deletedPath: string; readonly uriField: 'vaultUri' | 'hsmUri'; readonly description: string };

const VAULTS: Kind = { command: 'vault', noun: 'vault', path: '/admin/vaults', deletedPath: '/admin/deletedvaults', uriField: 'vaultUri', description: 'vaults (served at https://{vault}.vault.<domain>:8443)' };
const POOLS: Kind = {
  command: 'hsm',
  noun: 'Managed HSM pool',
  path: '/admin/managedhsms',
  deletedPath: '/admin/deletedmanagedhsms',
  uriField: 'hsmUri',
  description: 'Managed HSM pools (served at https://{pool}.managedhsm.<domain>:8443; HSM-backed keys only)',
};

const uriOf = (v: VaultJson): string => v.vaultUri ?? v.hsmUri ?? '';

function human(v: VaultJson, k: Kind = VAULTS): string {
  return [
    `${k.command} ${v.name}`,
    `  ${k.uriField.padEnd(15)} ${uriOf(v)}`,
    `  id              ${v.id}`,
    `  tenantId        ${v.tenantId}`,
    `  retention       ${v.properties.softDeleteRetentionInDays} days (${v.properties.recoveryLevel})`,
    `  purgeProtection ${v.properties.enablePurgeProtection}`,
    `  tags            ${JSON.stringify(v.tags)}`,
    `  created         ${iso(v.created)}`,
    ...(v.deletedDate !== undefined ? [`  deleted         ${iso(v.deletedDate)}`, `  purge date      ${iso(v.scheduledPurgeDate)}`] : []),
  ].join('\n');
}

function table(rows: readonly VaultJson[], deleted: boolean, k: Kind = VAULTS): string {
  if (rows.length === 0) return '(none)';
  const cols = deleted ? ['name', 'deleted', 'purge date'] : ['name', k.uriField, 'retention', 'purgeProtection'];
  const cells = rows.map((v) =>
    deleted ? [v.name, iso(v.deletedDate), iso(v.scheduledPurgeDate)] : [v.name, uriOf(v), `${v.properties.softDeleteRetentionInDays}d`, String(v.properties.enablePurgeProtection)],
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
  registerContainerCommands(program, json, VAULTS);
  registerContainerCommands(program, json, POOLS);
}

/**
 * `keyledger vault …` and `keyledger hsm create|list|show|update|delete|recover|purge` (Managed
 * HSM pools, `/admin/managedhsms`): the same commands over the two kinds of container.
 */
function registerContainerCommands(program: Command, json: () => boolean, k: Kind): void {
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

  /** A principal's object id: a GUID as given, else looked up by name in identity (`keyledger sp show`). */
  const objectIdOf = async (principal: string): Promise<string> => {
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(principal)) return principal;
    const creds = loadCredentials();
    const p = (await api(creds, `https://identity.${domain}`, `${creds.authorityHost}/admin/principals/${enc(principal)}`)) as { objectId?: string };
    if (!p.objectId) throw new Error(`no principal "${principal}"`);
    return p.objectId;
  };

  const vault = program.command(k.command).description(k.description);
  const create = vault
    .command('create <name>')
    .description(`create a ${k.noun} (soft delete always on)`)
    .option('--retention-days <n>', 'soft-delete retention, 7-90 days', (x) => Number(x))
    .option('--enable-purge-protection', 'irreversible: deleted objects cannot be purged before their purge date')
    .option('--tag <key=value>', 'a tag (repeatable)', collect);
  if (k === POOLS) {
    create.option('--admin <principal>', "an initial administrator (object id or name; repeatable): Managed HSM Administrator at the pool's local scope /", collect);
    create.option('--activate-without-security-domain', 'development convenience: the pool serves keys at once, without a security domain download (its backups restore only into itself)');
  }
  create
    .action(async (name: string, o: { retentionDays?: number; enablePurgeProtection?: boolean; tag?: string[]; admin?: string[]; activateWithoutSecurityDomain?: boolean }) => {
      const tags = parseTags(o.tag);
      const administrators = o.admin ? await Promise.all(o.admin.map(objectIdOf)) : undefined;
      const body = (await call(k.path, 'POST', {
        name,
        ...(administrators ? { administrators } : {}),
        ...(o.activateWithoutSecurityDomain ? { activateWithoutSecurityDomain: true } : {}),
        ...(o.retentionDays !== undefined ? { softDeleteRetentionInDays: o.retentionDays } : {}),
        ...(o.enablePurgeProtection ? { enablePurgeProtection: true } : {}),
        ...(tags ? { tags } : {}),
      })) as VaultJson;
      print(body, human(body, k));
    });
  vault
    .command('list')
    .description(`list ${k.noun}s`)
    .option('--deleted', `list soft-deleted ${k.noun}s instead`)
    .action(async (o: { deleted?: boolean }) => {
      const body = (await call(o.deleted ? k.deletedPath : k.path)) as { value: VaultJson[] };
      print(body.value, table(body.value, Boolean(o.deleted), k));
    });
  vault
    .command('show <name>')
    .description(`show a ${k.noun}`)
    .option('--deleted', `show a soft-deleted ${k.noun}`)
    .action(async (name: string, o: { deleted?: boolean }) => {
      const body = (await call(`${o.deleted ? k.deletedPath : k.path}/${enc(name)}`)) as VaultJson;
      print(body, human(body, k));
    });
  vault
    .command('update <name>')
    .description('replace tags, or enable purge protection (irreversible)')
    .option('--tag <key=value>', 'a tag (repeatable; replaces all tags)', collect)
    .option('--enable-purge-protection', 'enable purge protection')
    .action(async (name: string, o: { tag?: string[]; enablePurgeProtection?: boolean }) => {
      const tags = parseTags(o.tag);
      const body = (await call(`${k.path}/${enc(name)}`, 'PATCH', { ...(tags ? { tags } : {}), ...(o.enablePurgeProtection ? { enablePurgeProtection: true } : {}) })) as VaultJson;
      print(body, human(body, k));
    });
  vault
    .command('delete <name>')
    .description(`soft-delete a ${k.noun} (recoverable until its purge date)`)
    .action(async (name: string) => {
      const body = (await call(`${k.path}/${enc(name)}`, 'DELETE')) as VaultJson;
      print(body, `deleted ${body.name}; recoverable until ${iso(body.scheduledPurgeDate)}`);
    });
  vault
    .command('recover <name>')
    .description(`recover a soft-deleted ${k.noun}`)
    .action(async (name: string) => {
      const body = (await call(`${k.deletedPath}/${enc(name)}/recover`, 'POST')) as VaultJson;
      print(body, `recovered ${body.name}`);
    });
  vault
    .command('purge <name>')
    .description(`permanently delete a soft-deleted ${k.noun} and destroy its ${k === POOLS ? 'keys' : 'secrets and keys'}`)
    .action(async (name: string) => {
      await call(`${k.deletedPath}/${enc(name)}`, 'DELETE');
      print({ purged: name }, `purged ${name}`);
    });
}
