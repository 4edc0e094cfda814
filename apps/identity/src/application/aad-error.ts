/** An OAuth2 error in Microsoft Entra ID's shape; mapped to HTTP by the token routes. */
export class AadError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 429,
    readonly error: string,
    readonly aadsts: number,
    readonly description: string,
    /** A reason code for the audit record (never a secret). */
    readonly reason: string,
    /** Response headers (Retry-After of a throttled request). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(`AADSTS${aadsts}: ${description}`);
    this.name = 'AadError';
  }

  body(correlationId: string, traceId: string): Record<string, unknown> {
    return {
      error: this.error,
      error_description: `AADSTS${this.aadsts}: ${this.description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${new Date().toISOString().replace('T', ' ').slice(0, 19)}Z`,
      error_codes: [this.aadsts],
      timestamp: new Date().toISOString().replace('T', ' ').slice(0, 19) + 'Z',
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${this.aadsts}`,
    };
  }
}

export const invalidClient = (reason: string): AadError =>
  new AadError(401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to the app.', reason);
