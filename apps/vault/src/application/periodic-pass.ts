import type { Logger } from 'pino';

/**
 * A pass run every `intervalMs`, never two at once (a tick while one runs is skipped), whose
 * failure is logged and retried at the next tick; `stop` waits for the pass under way. The
 * vault's schedulers (purges, key lifecycle, certificate lifetime) each own one.
 */
export class PeriodicPass {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly failureMessage: string,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.pass()
        .catch((err: unknown) => this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, this.failureMessage))
        .finally(() => (this.running = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
