import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

/** Error-log levels, nginx's order (debug is the most verbose). */
export const LOG_LEVELS = ['debug', 'info', 'notice', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Context a log line may carry; request id and backend are what operators grep for. */
export interface LogFields {
  readonly requestId?: string;
  readonly backend?: string;
  readonly client?: string;
  readonly [key: string]: string | number | boolean | undefined;
}

export interface Logger {
  enabled(level: LogLevel): boolean;
  log(level: LogLevel, message: string, fields?: LogFields): void;
}

/** One line may not flood the log: a backend can write megabytes to FastCGI stderr. */
export const MAX_LOG_LINE_BYTES = 4096;

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, notice: 2, warn: 3, error: 4 };

/**
 * An nginx-like error log: `2026/11/22 06:59:00 [error] message, request: id, backend: addr`.
 * Control bytes in messages are escaped so a backend or client cannot forge log lines.
 */
export class StreamLogger implements Logger {
  private readonly minRank: number;
  private readonly out: Writable;

  constructor(out: Writable, level: LogLevel = 'info') {
    this.out = out;
    this.minRank = RANK[level];
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.minRank;
  }

  log(level: LogLevel, message: string, fields?: LogFields): void {
    if (RANK[level] < this.minRank) return;
    let line = `${timestamp(new Date())} [${level}] ${escapeLogText(message)}`;
    if (fields !== undefined) {
      for (const key of Object.keys(fields)) {
        const value = fields[key];
        if (value !== undefined) line += `, ${key}: ${escapeLogText(String(value))}`;
      }
    }
    if (line.length > MAX_LOG_LINE_BYTES) line = `${line.slice(0, MAX_LOG_LINE_BYTES)}...[truncated]`;
    this.out.write(`${line}\n`);
  }
}

/** A logger that drops everything (library use without logging). */
export class NullLogger implements Logger {
  enabled(): boolean {
    return false;
  }
  log(): void {}
}

/** A logger that keeps lines in memory, for tests. */
export class MemoryLogger implements Logger {
  readonly lines: Array<{ level: LogLevel; message: string; fields: LogFields | undefined }> = [];
  enabled(): boolean {
    return true;
  }
  log(level: LogLevel, message: string, fields?: LogFields): void {
    this.lines.push({ level, message, fields });
  }
}

/** `stderr`, `stdout`, or a file path opened for appending. */
export function openLogStream(path: string): Writable {
  if (path === 'stderr') return process.stderr;
  if (path === 'stdout') return process.stdout;
  const stream: WriteStream = createWriteStream(path, { flags: 'a' });
  return stream;
}

const CONTROL = /[\x00-\x1f\x7f]/g;

export function escapeLogText(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function timestamp(d: Date): string {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(
    d.getMinutes(),
  )}:${pad(d.getSeconds())}`;
}
