import type { Command } from 'commander';
import { api, loadCredentials } from './client.js';

type IssuingCaJson = { tenantId: string; subject: string; notBefore: number; notAfter: number; sha256Fingerprint: string; pem: string };

/**
 * `keyledger ca export|show`: the tenant's `Keyledger` issuing CA (the vault's admin API,
 * `/admin/issuing-ca`), the one file to install to trust every certificate it issues:
 *
 *   npx keyledger ca export > keyledger-ca.pem                 # the caller's tenant
 *   npx keyledger ca export --tenant <tenantId> > ca.pem
 */
export function registerCaCommands(program: Command, json: () => boolean): void {
  const domain = process.env.KEYLEDGER_DOMAIN ?? 'localhost';
  const resource = `https://vault.${domain}`;
  const base = (): string => (process.env.KEYLEDGER_VAULT_URL ?? `https://localhost:${process.env.VAULT_PORT ?? '8443'}`).replace(/\/+$/, '');
  const fetchCa = async (tenant: string | undefined): Promise<IssuingCaJson> =>
    (await api(loadCredentials(), resource, `${base()}${tenant ? `/admin/tenants/${encodeURIComponent(tenant)}/issuing-ca` : '/admin/issuing-ca'}`)) as IssuingCaJson;

  const ca = program.command('ca').description("the tenant's Keyledger issuing CA (the issuer 'Keyledger' of certificates)");
  ca.command('export')
    .description('print the CA certificate (PEM): the one file to trust')
    .option('--tenant <tenantId>', "a tenant id (default: the caller's tenant)")
    .action(async (o: { tenant?: string }) => {
      const body = await fetchCa(o.tenant);
      process.stdout.write(json() ? `${JSON.stringify(body, null, 2)}\n` : body.pem);
    });
  ca.command('show')
    .description('subject, validity and SHA-256 fingerprint of the CA certificate')
    .option('--tenant <tenantId>', "a tenant id (default: the caller's tenant)")
    .action(async (o: { tenant?: string }) => {
      const body = await fetchCa(o.tenant);
      const iso = (s: number): string => new Date(s * 1000).toISOString();
      const { pem: _pem, ...facts } = body;
      process.stdout.write(
        json()
          ? `${JSON.stringify(facts, null, 2)}\n`
          : [`tenant       ${body.tenantId}`, `subject      ${body.subject}`, `valid        ${iso(body.notBefore)} .. ${iso(body.notAfter)}`, `sha256       ${body.sha256Fingerprint}`].join('\n') + '\n',
      );
    });
}
