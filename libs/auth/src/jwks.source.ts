import { request as httpsRequest, type Agent } from 'node:https';

/**
 * Where token-signing public keys come from. `fetchJwks` returns the raw JSON document
 * (`{"keys":[…]}`); the key cache validates it and decides when to call again.
 */
export interface JwksSource {
  fetchJwks(): Promise<unknown>;
}

/** A JWKS held in memory: tests, and services that receive keys another way. `set` simulates rotation. */
export class StaticJwksSource implements JwksSource {
  private current: unknown;
  /** How many times the cache fetched (tests assert rate limiting with it). */
  fetchCount = 0;

  constructor(jwks: unknown) {
    this.current = jwks;
  }

  set(jwks: unknown): void {
    this.current = jwks;
  }

  async fetchJwks(): Promise<unknown> {
    this.fetchCount += 1;
    return structuredClone(this.current);
  }
}

export type HttpsJwksSourceOptions = {
  /** The identity service's `jwks_uri`; must be `https:`. */
  readonly url: string;
  /** Extra trust anchors (PEM), e.g. the development CA. Node's global fetch cannot take one, hence `node:https`. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** A preconfigured agent (keep-alive, mTLS…); `ca` still applies per request. */
  readonly agent?: Agent;
  /** Whole-request deadline. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Largest accepted response body. Default 256 KiB. */
  readonly maxBytes?: number;
};

/**
 * Fetches the JWKS over HTTPS with certificate verification always on (no option turns it off),
 * a deadline and a size cap; only a 200 with a JSON body is accepted, redirects are not followed.
 */
export class HttpsJwksSource implements JwksSource {
  private readonly url: URL;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;

  constructor(private readonly options: HttpsJwksSourceOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new Error('JWKS url is not a valid URL');
    }
    if (url.protocol !== 'https:') throw new Error('JWKS url must use https');
    this.url = url;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxBytes = options.maxBytes ?? 256 * 1024;
  }

  fetchJwks(): Promise<unknown> {
    const where = `${this.url.origin}${this.url.pathname}`;
    return new Promise<unknown>((resolve, reject) => {
      const ca = this.options.ca === undefined ? undefined : typeof this.options.ca === 'string' || Buffer.isBuffer(this.options.ca) ? this.options.ca : [...this.options.ca];
      const req = httpsRequest(this.url, {
        method: 'GET',
        headers: { accept: 'application/json' },
        rejectUnauthorized: true,
        ...(ca !== undefined ? { ca } : {}),
        ...(this.options.agent !== undefined ? { agent: this.options.agent } : {}),
      });
      const timer = setTimeout(() => req.destroy(new Error(`JWKS fetch from ${where} timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      req.on('error', fail);
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          req.destroy();
          fail(new Error(`JWKS fetch from ${where} answered ${res.statusCode ?? 'no status'}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxBytes) {
            req.destroy(new Error(`JWKS from ${where} is larger than ${this.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(timer);
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
          } catch {
            reject(new Error(`JWKS from ${where} is not JSON`));
          }
        });
      });
      req.end();
    });
  }
}
