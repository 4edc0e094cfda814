import type { LoggerService } from '@nestjs/common';
import { pino, type Logger } from 'pino';
import { currentContext } from './context.js';

/**
 * Paths that must never reach a log line. Values are censored, not dropped, so that a
 * reader can see that something was there. Secret values, key material, tokens and
 * client secrets are never logged on purpose; this is the second line of defence.
 */
export const REDACT_PATHS: readonly string[] = [
  'value', '*.value', 'secret', '*.secret', 'password', '*.password', 'token', '*.token',
  'access_token', '*.access_token', 'client_secret', '*.client_secret', 'client_assertion', '*.client_assertion',
  'clientSecret', '*.clientSecret', 'authorization', '*.authorization', 'headers.authorization',
  'req.headers.authorization', 'key', '*.key', 'plaintext', '*.plaintext', 'material', '*.material',
  'd', '*.d', 'p', '*.p', 'q', '*.q', 'dp', '*.dp', 'dq', '*.dq', 'qi', '*.qi', 'k', '*.k',
];

export function createLogger(service: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    mixin() {
      const ctx = currentContext();
      return ctx ? { correlationId: ctx.correlationId, requestId: ctx.requestId } : {};
    },
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** Adapts pino to Nest's LoggerService so framework messages are structured too. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.write('info', message, context);
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, stringify(message));
  }
  warn(message: unknown, context?: string): void {
    this.write('warn', message, context);
  }
  debug(message: unknown, context?: string): void {
    this.write('debug', message, context);
  }
  verbose(message: unknown, context?: string): void {
    this.write('trace', message, context);
  }
  fatal(message: unknown, context?: string): void {
    this.write('fatal', message, context);
  }

  private write(level: 'info' | 'warn' | 'debug' | 'trace' | 'fatal', message: unknown, context?: string): void {
    this.logger[level]({ context }, stringify(message));
  }
}

function stringify(message: unknown): string {
  if (typeof message === 'string') return message;
  if (message instanceof Error) return message.message;
  try {
    return JSON.stringify(message);
  } catch {
    return String(message);
  }
}
