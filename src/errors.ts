/**
 * Every error Portico throws. Callers branch on the class or on `code` (stable strings),
 * never on message text. `status` is what a client sees when the error ends a request;
 * `retryable` says whether the attempt loop may try another backend (nginx's
 * next_upstream conditions decide whether it will).
 */

/** Where the fault lies: the HTTP client, the backend, the configuration, or Portico itself. */
export type ErrorSource = 'client' | 'backend' | 'config' | 'gateway';

/** nginx's next_upstream failure classes (C.1.7 / C.1.8 of semantics.md). */
export type FailureKind = 'error' | 'timeout' | 'invalid_header' | 'none';

export interface GatewayErrorOptions {
  readonly cause?: unknown;
  readonly status?: number;
}

export class GatewayError extends Error {
  override readonly name: string = 'GatewayError';
  readonly code: string;
  readonly source: ErrorSource;
  readonly status: number;
  readonly failure: FailureKind;

  constructor(
    code: string,
    message: string,
    source: ErrorSource,
    status: number,
    failure: FailureKind,
    options?: GatewayErrorOptions,
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.source = source;
    this.status = options?.status ?? status;
    this.failure = failure;
  }
}

/** A malformed or oversized message on the wire (SCGI, FastCGI or CGI response head) from a backend: 502. */
export class ProtocolError extends GatewayError {
  override readonly name = 'ProtocolError';
  constructor(code: string, message: string, options?: GatewayErrorOptions) {
    super(code, message, 'backend', 502, 'invalid_header', options);
  }
}

/** A request Portico cannot encode for the backend (NUL in a param, params too large): 500. */
export class EncodeError extends GatewayError {
  override readonly name = 'EncodeError';
  constructor(code: string, message: string, options?: GatewayErrorOptions) {
    super(code, message, 'gateway', 500, 'none', options);
  }
}

/** The backend could not be reached or broke the exchange: 502, a candidate for next_upstream `error`. */
export class UpstreamError extends GatewayError {
  override readonly name = 'UpstreamError';
  constructor(code: string, message: string, options?: GatewayErrorOptions) {
    super(code, message, 'backend', 502, 'error', options);
  }
}

/** connect / send / read timeout: 504, next_upstream `timeout`. */
export class UpstreamTimeoutError extends GatewayError {
  override readonly name = 'UpstreamTimeoutError';
  constructor(code: string, message: string, options?: GatewayErrorOptions) {
    super(code, message, 'backend', 504, 'timeout', options);
  }
}

/** A bad client request (malformed path, body too large, ...): 4xx, never retried. */
export class ClientRequestError extends GatewayError {
  override readonly name = 'ClientRequestError';
  constructor(code: string, message: string, status: number, options?: GatewayErrorOptions) {
    super(code, message, 'client', status, 'none', options);
  }
}

/** One problem in a configuration, located by file, line, column and key path. */
export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Dotted key path, e.g. `locations[2].fastcgi.pass`. */
  readonly path: string;
  readonly message: string;
}

/** A configuration that cannot run. Carries every issue found, not just the first. */
export class ConfigError extends GatewayError {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], options?: GatewayErrorOptions) {
    super(
      'ERR_CONFIG',
      issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path}: ${i.message}`).join('\n'),
      'config',
      500,
      'none',
      options,
    );
    this.issues = issues;
  }
}
