/**
 * The progress line on stderr while the bench runs: "[ 3/40] portico · fcgi-hello · measuring
 * 3/8 s", rewritten in place on a terminal (once a second during timed phases), one line per
 * step otherwise (CI logs, pipes).
 */
import type { Result } from './measure.ts';

export class Progress {
  private readonly total: number;
  private index = 0;
  private label = '';
  private timer: NodeJS.Timeout | undefined;
  private readonly tty = process.stderr.isTTY === true;

  constructor(total: number) {
    this.total = total;
  }

  private write(text: string): void {
    if (this.tty) process.stderr.write(`\r\x1b[2K${text}`);
    else process.stderr.write(`${text}\n`);
  }

  private prefix(): string {
    const width = String(this.total).length;
    return `[${String(this.index).padStart(width)}/${this.total}]`;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Something about a gateway before its workloads (starting it). */
  step(gateway: string, text: string): void {
    this.clearTimer();
    this.write(`${this.prefix()} ${gateway} · ${text}`);
  }

  next(gateway: string, workload: string): void {
    this.clearTimer();
    this.index++;
    this.label = `${this.prefix()} ${gateway} · ${workload}`;
    this.write(this.label);
  }

  /** A workload that will not run after all (its gateway did not start). */
  skip(): void {
    this.index++;
  }

  phase(text: string, seconds?: number): void {
    this.clearTimer();
    const base = `${this.label} · ${text}`;
    if (seconds === undefined || !this.tty) {
      this.write(seconds === undefined ? base : `${base} ${seconds} s`);
      return;
    }
    const t0 = Date.now();
    const show = (): void => {
      const elapsed = Math.min(seconds, Math.floor((Date.now() - t0) / 1000));
      this.write(`${base} ${elapsed}/${seconds} s`);
    };
    show();
    this.timer = setInterval(show, 1000);
    this.timer.unref();
  }

  done(result: Result): void {
    this.clearTimer();
    const figure =
      result.rps !== undefined
        ? `${result.rps.toLocaleString('en-US')} req/s, p99 ${result.latencyMs?.p99.toFixed(2)} ms`
        : result.idle !== undefined
          ? `${result.idle.opened} open, ${result.idle.kibPerConnection} KiB/conn`
          : `p99 ${result.latencyMs?.p99.toFixed(3)} ms`;
    this.write(`${this.label} · ${figure}`);
  }

  /** A line that stays (a failure, a skip). */
  note(text: string): void {
    this.clearTimer();
    if (this.tty) process.stderr.write(`\r\x1b[2K${text}\n`);
    else process.stderr.write(`${text}\n`);
  }

  end(): void {
    this.clearTimer();
    if (this.tty) process.stderr.write('\r\x1b[2K');
  }
}
