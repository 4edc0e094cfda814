import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** One recorded exchange, as the Azure SDK test proxy stores it. */
export type RecordedEntry = {
  readonly RequestUri: string;
  readonly RequestMethod: string;
  readonly RequestHeaders: Readonly<Record<string, string>>;
  readonly RequestBody: unknown;
  readonly StatusCode: number;
  readonly ResponseHeaders: Readonly<Record<string, string>>;
  readonly ResponseBody: unknown;
};

export type Recording = { readonly file: string; readonly collection: string; readonly apiVersion: string; readonly entries: readonly RecordedEntry[] };

/**
 * Every recording of the given folders under the recordings root
 * (`<collection>/[api-x/|managedhsm/]<name>.json`), sorted; all folders when none are given.
 */
export function loadRecordings(root: string, folders?: readonly string[]): Recording[] {
  const out: Recording[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.json')) {
        const rel = relative(root, path);
        const data = JSON.parse(readFileSync(path, 'utf8')) as { Entries: RecordedEntry[] };
        const first = data.Entries[0];
        const apiVersion = first ? (new URL(first.RequestUri).searchParams.get('api-version') ?? 'none') : 'none';
        out.push({ file: rel, collection: rel.split('/')[0]!, apiVersion, entries: data.Entries });
      }
    }
  };
  if (folders === undefined) walk(root);
  else for (const folder of [...folders].sort()) walk(join(root, folder));
  return out;
}
