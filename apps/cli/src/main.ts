import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { CliError, api, loadCredentials, type Credentials } from './client.js';
import { registerVaultCommands } from './vault.commands.js';
import { registerAuditCommands } from './audit.commands.js';
import { registerCaCommands } from './ca.commands.js';

/**
 * `keyledger`: administration from the command line, authenticated with the bootstrap
 * credentials (.keyledger/bootstrap.json) or AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/AZURE_TENANT_ID.
 */
const program = new Command().name('keyledger').description('Keyledger administration').option('--json', 'machine-readable output');
const domain = process.env.KEYLEDGER_DOMAIN ?? 'localhost';
const identityResource = `https://identity.${domain}`;

function creds(): Credentials {
  return loadCredentials();
}
const identityUrl = (path: string): string => `${creds().authorityHost}${path}`;
const json = (): boolean => Boolean(program.opts<{ json?: boolean }>().json);

function print(value: unknown, human: (v: never) => string): void {
  process.stdout.write(json() ? `${JSON.stringify(value, null, 2)}\n` : `${human(value as never)}\n`);
}

function table(rows: readonly Record<string, unknown>[], cols: readonly string[]): string {
  if (rows.length === 0) return '(none)';
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (vals: readonly string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cols), ...rows.map((r) => line(cols.map((c) => String(r[c] ?? ''))))].join('\n');
}

const value = (b: unknown): Record<string, unknown>[] => ((b as { value?: Record<string, unknown>[] }).value ?? []);

const tenant = program.command('tenant').description('tenants');
tenant
  .command('list')
  .description('list tenants')
  .action(async () => {
    const body = await api(creds(), identityResource, identityUrl('/admin/tenants'));
    print(value(body), (rows: Record<string, unknown>[]) => table(rows, ['tenantId', 'name', 'isDefault']));
  });

const sp = program.command('sp').description('service principals');
sp.command('create <name>')
  .description('create a service principal; prints its client secret once')
  .option('--cert <file>', 'register an X.509 client certificate (PEM) instead of a secret')
  .action(async (name: string, o: { cert?: string }) => {
    const body = await api(creds(), identityResource, identityUrl('/admin/principals'), 'POST', {
      displayName: name,
      kind: 'servicePrincipal',
      ...(o.cert ? { certificatePem: readFileSync(o.cert, 'utf8'), withSecret: false } : {}),
    });
    const c = creds();
    const b = body as Record<string, string | undefined>;
    print({ ...b, authorityHost: c.authorityHost }, (v: Record<string, string>) =>
      [
        `service principal ${v.displayName}`,
        `  objectId      ${v.objectId}`,
        `  clientId      ${v.appId}`,
        `  tenantId      ${v.tenantId}`,
        v.clientSecret ? `  clientSecret  ${v.clientSecret}   (shown once)` : `  certificate   x5t#S256 ${v.certificateThumbprint}`,
        `  authorityHost ${v.authorityHost}`,
      ].join('\n'),
    );
  });
sp.command('list')
  .description('list principals')
  .action(async () => {
    const body = await api(creds(), identityResource, identityUrl('/admin/principals'));
    print(value(body), (rows: Record<string, unknown>[]) => table(rows, ['displayName', 'kind', 'appId', 'objectId', 'enabled']));
  });
sp.command('show <principal>')
  .description('show a principal and its credentials (never the secrets)')
  .action(async (p: string) => {
    const body = await api(creds(), identityResource, identityUrl(`/admin/principals/${encodeURIComponent(p)}`));
    print(body, (v: Record<string, unknown>) => JSON.stringify(v, null, 2));
  });
const spSecret = sp.command('secret').description('client secrets');
spSecret
  .command('add <principal>')
  .option('--expires-in-days <n>', 'expiry', (x) => Number(x))
  .description('add a client secret; prints it once')
  .action(async (p: string, o: { expiresInDays?: number }) => {
    const body = await api(creds(), identityResource, identityUrl(`/admin/principals/${encodeURIComponent(p)}/secrets`), 'POST', o.expiresInDays ? { expiresInDays: o.expiresInDays } : {});
    print(body, (v: Record<string, string>) => `secretId      ${v.secretId}\nclientSecret  ${v.clientSecret}   (shown once)\nexpires       ${v.expiresAt ?? 'never'}`);
  });
spSecret
  .command('revoke <principal> <secretId>')
  .description('revoke a client secret')
  .action(async (p: string, id: string) => {
    const body = await api(creds(), identityResource, identityUrl(`/admin/principals/${encodeURIComponent(p)}/secrets/${encodeURIComponent(id)}`), 'DELETE');
    print(body, () => `revoked ${id}`);
  });

const spCert = sp.command('cert').description('client certificates');
spCert
  .command('revoke <principal> <thumbprint>')
  .description('revoke a registered client certificate (thumbprint = x5t#S256)')
  .action(async (p: string, t: string) => {
    const body = await api(creds(), identityResource, identityUrl(`/admin/principals/${encodeURIComponent(p)}/certificates/${encodeURIComponent(t)}`), 'DELETE');
    print(body, () => `revoked certificate ${t}`);
  });

const user = program.command('user').description('users: people who sign in to the CLI or the SDK with their own credentials');
user
  .command('create [name]')
  .description('create a user (e.g. alice or alice@example.com); prints its sign-in password, client id and client secret once')
  .option('--name <name>', 'the user name (instead of the argument)')
  .option('--tenant <tenantId>', 'the tenant (default: the administrator\'s)')
  .action(async (arg: string | undefined, o: { name?: string; tenant?: string }) => {
    const name = o.name ?? arg;
    if (!name) throw new CliError('a user name is required: keyledger user create --name alice');
    const c = creds();
    const b = (await api(c, identityResource, identityUrl('/admin/principals'), 'POST', { displayName: name, kind: 'user', ...(o.tenant ? { tenantId: o.tenant } : {}) })) as Record<string, string>;
    print({ ...b, authorityHost: c.authorityHost }, (v: Record<string, string>) =>
      [
        `user ${v.displayName} (objectId ${v.objectId}, tenant ${v.tenantId})`,
        `  password      ${v.password}   (shown once; sign in interactively: device code, the sign-in page, the console)`,
        `  or as a client: AZURE_TENANT_ID=${v.tenantId} AZURE_CLIENT_ID=${v.appId} AZURE_CLIENT_SECRET=${v.clientSecret}   (shown once)`,
        `  tokens carry idtyp=user and upn=${v.displayName}; grant access with "keyledger role assign --principal ${v.displayName} ..."`,
      ].join('\n'),
    );
  });
user
  .command('reset-password <user>')
  .description('give a user a new generated password (shown once) and sign them out everywhere')
  .action(async (u: string) => {
    const body = await api(creds(), identityResource, identityUrl(`/admin/principals/${encodeURIComponent(u)}/password`), 'POST', {});
    print(body, (v: Record<string, string>) => `password  ${v.password}   (shown once)\nrevoked   ${v.revokedSessions} refresh token(s), ended ${v.revokedSignInSessions} sign-in session(s)`);
  });
user
  .command('revoke-sessions <user>')
  .description('revoke every refresh token and sign-in session of a user (signs them out of every app, device and browser)')
  .action(async (u: string) => {
    const body = await api(creds(), identityResource, identityUrl(`/admin/principals/${encodeURIComponent(u)}/sessions`), 'DELETE');
    print(body, (v: Record<string, string>) => `revoked ${v.revokedSessions} refresh token(s), ended ${v.revokedSignInSessions} sign-in session(s)`);
  });
user
  .command('disable <user>')
  .description('disable a user: no more sign-in or tokens; their refresh tokens and sign-in sessions stop working')
  .option('--reason <text>', 'why (kept in the event)')
  .action(async (u: string, o: { reason?: string }) => {
    const body = await api(creds(), identityResource, identityUrl(`/admin/principals/${encodeURIComponent(u)}/disable`), 'POST', o.reason ? { reason: o.reason } : {});
    print(body, (v: Record<string, string>) => `disabled ${v.objectId}: revoked ${v.revokedSessions} refresh token(s), ended ${v.revokedSignInSessions} sign-in session(s)`);
  });

const app = program.command('app').description('application registrations: public clients users sign in to');
app
  .command('create <name>')
  .description('register a public client (authorization code + PKCE, device code); prints its client id')
  .option('--public', 'a public client (required: confidential clients are service principals, keyledger sp create)')
  .option('--redirect-uri <uri...>', 'redirect URIs (https, or http on localhost); repeatable')
  .option('--tenant <tenantId>', 'the tenant (default: the administrator\'s)')
  .action(async (name: string, o: { public?: boolean; redirectUri?: string[]; tenant?: string }) => {
    if (!o.public) throw new CliError('only public clients are registered here: add --public (confidential clients: keyledger sp create)');
    const c = creds();
    const b = await api(c, identityResource, identityUrl('/admin/applications'), 'POST', { displayName: name, publicClient: true, redirectUris: o.redirectUri ?? [], ...(o.tenant ? { tenantId: o.tenant } : {}) });
    print({ ...(b as Record<string, unknown>), authorityHost: c.authorityHost }, (v: Record<string, string | string[]>) =>
      [
        `public client ${String(v.displayName)}`,
        `  clientId      ${String(v.appId)}`,
        `  tenantId      ${String(v.tenantId)}`,
        `  redirectUris  ${(v.redirectUris as string[]).join(' ') || '(none: device code only)'}`,
        `  authorityHost ${String(v.authorityHost)}`,
      ].join('\n'),
    );
  });
app
  .command('list')
  .description('list application registrations')
  .action(async () => {
    const body = await api(creds(), identityResource, identityUrl('/admin/applications'));
    print(value(body), (rows: Record<string, unknown>[]) => table(rows.map((r) => ({ ...r, redirectUris: (r.redirectUris as string[]).join(' ') })), ['displayName', 'appId', 'publicClient', 'redirectUris']));
  });

const mi = program.command('mi').description('managed identities');
mi.command('create <name>')
  .description('create a managed identity bound to a host; prints IDENTITY_ENDPOINT/IDENTITY_HEADER once')
  .option('--bound-to <host>', 'address of the host the identity is bound to (IMDS callers)', '127.0.0.1')
  .action(async (name: string, o: { boundTo: string }) => {
    const c = creds();
    const body = (await api(c, identityResource, identityUrl('/admin/principals'), 'POST', { displayName: name, kind: 'managedIdentity', boundTo: o.boundTo })) as Record<string, string>;
    const out = { ...body, identityEndpoint: `${c.authorityHost}/msi/token`, imdsAuthorityHost: c.authorityHost };
    print(out, (v: Record<string, string>) =>
      [
        `managed identity ${v.displayName} (clientId ${v.appId}, objectId ${v.objectId})`,
        `  App Service style:  IDENTITY_ENDPOINT=${v.identityEndpoint} IDENTITY_HEADER=${v.identityHeader}   (shown once)`,
        `  IMDS style:         AZURE_POD_IDENTITY_AUTHORITY_HOST=${v.imdsAuthorityHost} (from ${o.boundTo})`,
      ].join('\n'),
    );
  });

const role = program.command('role').description('roles and role assignments');
role
  .command('list')
  .description('list role definitions')
  .action(async () => {
    const body = await api(creds(), identityResource, identityUrl('/admin/roleDefinitions'));
    print(value(body), (rows: Record<string, unknown>[]) => table(rows, ['roleName', 'id', 'roleType']));
  });
role
  .command('create')
  .description('create a custom role from data actions (wildcards allowed)')
  .requiredOption('--name <name>', 'role name')
  .requiredOption('--data-actions <list>', 'comma-separated, e.g. Microsoft.KeyVault/vaults/secrets/getSecret/action')
  .option('--not-data-actions <list>', 'comma-separated data actions taken away')
  .option('--assignable-scopes <list>', 'comma-separated scopes where it may be assigned', '/')
  .option('--description <text>', 'description')
  .action(async (o: { name: string; dataActions: string; notDataActions?: string; assignableScopes: string; description?: string }) => {
    const split = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);
    const body = await api(creds(), identityResource, identityUrl('/admin/roleDefinitions'), 'POST', {
      roleName: o.name,
      dataActions: split(o.dataActions),
      ...(o.notDataActions ? { notDataActions: split(o.notDataActions) } : {}),
      assignableScopes: split(o.assignableScopes),
      ...(o.description ? { description: o.description } : {}),
    });
    print(body, (v: Record<string, string>) => `created custom role ${v.roleName} (${v.id})`);
  });
role
  .command('delete <role>')
  .description('delete a custom role (it must have no assignments)')
  .action(async (r: string) => {
    const body = await api(creds(), identityResource, identityUrl(`/admin/roleDefinitions/${encodeURIComponent(r)}`), 'DELETE');
    print(body, () => `deleted role ${r}`);
  });
role
  .command('assignments')
  .description('list role assignments')
  .option('--principal <id>', 'only this principal (object id)')
  .option('--scope <scope>', 'only this scope')
  .action(async (o: { principal?: string; scope?: string }) => {
    const q = new URLSearchParams({ ...(o.principal ? { principalId: o.principal } : {}), ...(o.scope ? { scope: o.scope } : {}) });
    const body = await api(creds(), identityResource, identityUrl(`/admin/roleAssignments?${q}`));
    print(value(body), (rows: Record<string, unknown>[]) => table(rows, ['id', 'principalId', 'roleName', 'scope']));
  });
role
  .command('assign')
  .description('assign a role to a principal at a scope (/, /vaults/{v}, /vaults/{v}/secrets, /vaults/{v}/secrets/{name}, ...)')
  .requiredOption('--principal <id>', 'object id, client id or display name')
  .requiredOption('--role <name>', 'role name or definition id, e.g. "Key Vault Secrets User"')
  .requiredOption('--scope <scope>', 'scope')
  .action(async (o: { principal: string; role: string; scope: string }) => {
    const body = await api(creds(), identityResource, identityUrl('/admin/roleAssignments'), 'POST', { principal: o.principal, role: o.role, scope: o.scope });
    print(body, (v: Record<string, string>) => `assigned ${v.roleName} to ${v.principalId} at ${v.scope} (assignment ${v.id})`);
  });
role
  .command('unassign <assignmentId>')
  .description('remove a role assignment')
  .action(async (id: string) => {
    const body = await api(creds(), identityResource, identityUrl(`/admin/roleAssignments/${encodeURIComponent(id)}`), 'DELETE');
    print(body, () => `removed assignment ${id}`);
  });

registerVaultCommands(program, json);
registerAuditCommands(program);
registerCaCommands(program, json);

program.parseAsync(process.argv).catch((err: unknown) => {
  const msg = err instanceof CliError ? err.message : err instanceof Error ? err.message : String(err);
  process.stderr.write(`keyledger: ${msg}\n`);
  process.exitCode = 1;
});
