/**
 * FastCGI STDERR records cut into lines for the error log: a line may span records, a record
 * may hold several lines, and a line longer than MAX_STDERR_LINE is logged in pieces so a
 * backend cannot grow our memory. A message without a newline is a line once `flush` is called
 * (when stdout follows or the request ends: php-fpm's "PHP message: ..." has none).
 */

/** A stderr line longer than this is logged in pieces. */
export const MAX_STDERR_LINE = 4096;

export class StderrLines {
  private pending = '';
  private readonly emit: (line: string) => void;

  constructor(emit: (line: string) => void) {
    this.emit = emit;
  }

  /** True while part of a line waits for its newline. */
  get partial(): boolean {
    return this.pending.length > 0;
  }

  push(content: Buffer): void {
    let text = this.pending + content.toString('latin1');
    let newline = text.indexOf('\n');
    while (newline !== -1) {
      const line = text.slice(0, newline).replace(/\r$/, '');
      if (line.length > 0) this.emit(line);
      text = text.slice(newline + 1);
      newline = text.indexOf('\n');
    }
    while (text.length > MAX_STDERR_LINE) {
      this.emit(text.slice(0, MAX_STDERR_LINE));
      text = text.slice(MAX_STDERR_LINE);
    }
    this.pending = text;
  }

  flush(): void {
    if (this.pending.length > 0) this.emit(this.pending);
    this.pending = '';
  }
}
