/**
 * One health probe on a connection of its own, spoken in the member's protocol (never a pooled
 * connection: a probe must not take a kept php-fpm connection from a request, nor leave one
 * behind). Three kinds, as nginx Plus `health_check` and httpd mod_proxy_hcheck offer them:
 *
 * - `request`: a GET to a path (php-fpm's ping.path, an app's /health) through the normal
 *   SCGI / FastCGI exchange; the answer's status and the first 64 KiB of its body are judged;
 * - `get_values` (FastCGI): FCGI_GET_VALUES for FCGI_MAX_CONNS, FCGI_MAX_REQS and
 *   FCGI_MPXS_CONNS; any well-formed GET_VALUES_RESULT passes;
 * - `tcp`: the connect alone (httpd hcmethod=TCP).
 *
 * Every probe is bounded by `timeout` as a whole and closes its socket, whatever happens.
 */
import type { Socket } from 'node:net';
import type { CgiResponseHead } from '../cgi/response-head.ts';
import { type GatewayError, ProtocolError, UpstreamTimeoutError } from '../errors.ts';
import { RecordType } from '../protocol/fastcgi/constants.ts';
import { FastCgiRecordDecoder } from '../protocol/fastcgi/decoder.ts';
import { encodeGetValues } from '../protocol/fastcgi/encode.ts';
import { decodePairs } from '../protocol/fastcgi/pairs.ts';
import type { Param } from '../protocol/params.ts';
import type { ExchangeSink } from './exchange.ts';
import { FastCgiExchange } from './fastcgi-exchange.ts';
import { ScgiExchange } from './scgi-exchange.ts';

export type ProbeKind = 'request' | 'get_values' | 'tcp';

export interface ProbeOptions {
  readonly kind: ProbeKind;
  readonly protocol: 'scgi' | 'fastcgi';
  /** The request's environment (kind `request`). */
  readonly params: readonly Param[];
  /** ms for the whole probe. */
  readonly timeout: number;
}

export type ProbeResult =
  | { readonly ok: true; readonly status: number; readonly body: string; readonly values?: readonly Param[] }
  | { readonly ok: false; readonly reason: string };

/** Body bytes a probe keeps for judging; the rest is read and dropped. */
export const PROBE_BODY_LIMIT = 64 * 1024;

/** Runs one probe on `socket` (already connected) and closes it. */
export function runProbe(socket: Socket, options: ProbeOptions): Promise<ProbeResult> {
  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () =>
        finish(
          failed(new UpstreamTimeoutError('ERR_PROBE_TIMEOUT', `no answer within ${options.timeout} ms`)),
        ),
      options.timeout,
    );
    socket.on('error', (error) => finish({ ok: false, reason: error.message }));
    if (options.kind === 'tcp') {
      finish({ ok: true, status: 0, body: '' });
    } else if (options.kind === 'get_values') {
      getValues(socket, finish);
    } else {
      request(socket, options, finish);
    }
  });
}

function failed(error: GatewayError): ProbeResult {
  return { ok: false, reason: error.message };
}

function request(socket: Socket, options: ProbeOptions, finish: (r: ProbeResult) => void): void {
  const sink = new ProbeSink(finish);
  const exchangeRequest = {
    params: options.params,
    contentLength: 0,
    body: { kind: 'none' as const },
    headLimit: 16 * 1024,
    sendTimeout: options.timeout,
    readTimeout: options.timeout,
  };
  const exchange =
    options.protocol === 'scgi'
      ? new ScgiExchange(socket, exchangeRequest, sink)
      : new FastCgiExchange(socket, exchangeRequest, sink);
  exchange.start();
}

class ProbeSink implements ExchangeSink {
  private status = 0;
  private readonly parts: Buffer[] = [];
  private kept = 0;
  private readonly finish: (r: ProbeResult) => void;

  constructor(finish: (r: ProbeResult) => void) {
    this.finish = finish;
  }

  onHead(head: CgiResponseHead): void {
    this.status = head.status;
  }

  onBody(chunk: Buffer): boolean {
    if (this.kept < PROBE_BODY_LIMIT) {
      const piece = chunk.subarray(0, PROBE_BODY_LIMIT - this.kept);
      this.parts.push(piece);
      this.kept += piece.length;
    }
    return true;
  }

  onEnd(): void {
    this.finish({ ok: true, status: this.status, body: Buffer.concat(this.parts).toString('latin1') });
  }

  onError(error: GatewayError): void {
    this.finish(failed(error));
  }

  onStderr(): void {}
}

/** Names asked for: what a multiplexing client needs to know (FastCGI spec 4.1). */
const VALUE_NAMES = ['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'];

function getValues(socket: Socket, finish: (r: ProbeResult) => void): void {
  const decoder = new FastCgiRecordDecoder(
    {
      onRecord(type: number, requestId: number, content: Buffer): void {
        if (type !== RecordType.GET_VALUES_RESULT || requestId !== 0) {
          throw new ProtocolError(
            'ERR_PROBE_GET_VALUES',
            `expected FCGI_GET_VALUES_RESULT, got record type ${type}`,
          );
        }
        finish({ ok: true, status: 0, body: '', values: decodePairs(content) });
      },
    },
    { maxDiscreteContent: 4096 },
  );
  socket.on('data', (chunk: Buffer) => {
    try {
      decoder.push(chunk);
    } catch (error) {
      finish({ ok: false, reason: (error as Error).message });
    }
  });
  socket.on('end', () => finish({ ok: false, reason: 'closed before FCGI_GET_VALUES_RESULT' }));
  socket.write(encodeGetValues(VALUE_NAMES));
}
