// The APIs the console calls with the signed-in user's token (through its server, same origin).
import type { ConsoleConfig, Session } from './auth.tsx';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type Api = {
  vault: <T>(vault: string, path: string) => Promise<T>;
  audit: <T>(path: string) => Promise<T>;
  auditPost: <T>(path: string, body: unknown) => Promise<T>;
  identity: <T>(path: string) => Promise<T>;
  auditStream: (onRecord: (doc: AuditDoc) => void, signal: AbortSignal) => Promise<void>;
};

export type AuditDoc = {
  '@timestamp': string;
  event: { id: string; action: string; outcome: string; reason?: string };
  user?: { id?: string; name?: string };
  http?: { response?: { status_code: number } };
  service?: { name: string };
  keyledger: { seq: number; chain: string; vault?: string; object?: { ref: string; kind: string; name: string }; algorithm?: string };
};

async function call<T>(url: string, token: string, payload?: unknown): Promise<T> {
  const res = await fetch(
    url,
    payload === undefined
      ? { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }
      : { method: 'POST', headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'content-type': 'application/json' }, body: JSON.stringify(payload) },
  );
  const text = await res.text();
  const body = text ? (JSON.parse(text) as unknown) : {};
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string } }).error;
    throw new ApiError(res.status, e?.code ?? String(res.status), e?.message ?? res.statusText);
  }
  return body as T;
}

export function makeApi(cfg: ConsoleConfig, session: Session): Api {
  const withVersion = (path: string): string => `${path}${path.includes('?') ? '&' : '?'}api-version=7.6`;
  return {
    vault: async (vault, path) => call(`/api/vaults/${encodeURIComponent(vault)}${vault === '_' ? path : withVersion(path)}`, await session.token(cfg.vaultResource)),
    audit: async (path) => call(`/api/audit${path}`, await session.token(cfg.auditResource)),
    auditPost: async (path, body) => call(`/api/audit${path}`, await session.token(cfg.auditResource), body),
    identity: async (path) => call(`/api/identity${path}`, await session.token(cfg.identityResource)),
    auditStream: async (onRecord, signal) => {
      const res = await fetch('/api/audit/audit/stream', { headers: { authorization: `Bearer ${await session.token(cfg.auditResource)}`, accept: 'text/event-stream' }, signal });
      if (!res.ok || !res.body) throw new ApiError(res.status, String(res.status), 'the live tail could not be opened');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (data) onRecord(JSON.parse(data) as AuditDoc);
          end = buffer.indexOf('\n\n');
        }
      }
    },
  };
}
