/**
 * A FastCGI connection carrying several requests at once (FastCGI spec 3.3: request ids tell
 * them apart; FCGI_MPXS_CONNS says the application can). Every request sets FCGI_KEEP_CONN.
 *
 * Request ids run from 1 to `maxReqs` (the application's FCGI_MAX_REQS). An id is free again
 * only once its END_REQUEST came: after FCGI_ABORT_REQUEST the application still ends the
 * request, and records it sends meanwhile are dropped, never given to a newer request.
 *
 * Anything wrong with the connection itself (a record that does not decode, a record for an id
 * never used, the socket closing or failing) fails every request on it and closes it: the
 * requests whose head had not been sent yet can go to another server (next_upstream), the
 * others are truncated, as with a connection of their own.
 */
import type { Socket } from 'node:net';
import { type GatewayError, ProtocolError, UpstreamError } from '../errors.ts';
import {
  encodeAbortRequest,
  FastCgiRecordDecoder,
  ProtocolStatus,
  RecordType,
} from '../protocol/fastcgi/index.ts';
import type { ExchangeRequest, ExchangeSink } from './exchange.ts';
import { type MuxLink, MuxExchange } from './mux-exchange.ts';

export interface MuxConnectionOptions {
  /** Requests at once (FCGI_MAX_REQS). */
  readonly maxReqs: number;
  /** Bytes a slow client may leave queued per request before it is given up. */
  readonly bufferLimit: number;
  /** The connection has nothing to do (every request done) or is gone; the pool decides. */
  readonly onIdle: (connection: MuxConnection) => void;
  /** The application refused a request with FCGI_CANT_MPX_CONN: it does not multiplex (now). */
  readonly onCantMultiplex?: () => void;
  /** `failed`: requests were lost with it (not an idle close by either side). */
  readonly onClosed: (connection: MuxConnection, failed: boolean) => void;
}

const EMPTY = Buffer.alloc(0);

export class MuxConnection implements MuxLink {
  readonly socket: Socket;
  private readonly options: MuxConnectionOptions;
  private readonly decoder: FastCgiRecordDecoder;
  private readonly active = new Map<number, MuxExchange>();
  /** Ids aborted by us and not yet ended by the application. */
  private readonly draining = new Set<number>();
  private nextId = 1;
  private readonly freeIds: number[] = [];
  closed = false;
  /** Set by `retire`: no new requests, closed once the last one is over. */
  private retiring = false;
  /** Requests carried so far. */
  requests = 0;

  constructor(socket: Socket, options: MuxConnectionOptions) {
    this.socket = socket;
    this.options = options;
    this.decoder = new FastCgiRecordDecoder({
      onRecord: (type, id, content) => this.onRecord(type, id, content),
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk);
      } catch (error) {
        this.close(
          error instanceof ProtocolError
            ? error
            : new ProtocolError('ERR_FCGI_DECODE', 'upstream sent an invalid FastCGI record', {
                cause: error,
              }),
        );
      }
    });
    socket.on('end', () =>
      this.close(new UpstreamError('ERR_UPSTREAM_NO_HEAD', 'upstream closed the multiplexed connection')),
    );
    socket.on('error', (cause) =>
      this.close(
        new UpstreamError(
          'ERR_UPSTREAM_IO',
          `error on the multiplexed upstream connection (${(cause as NodeJS.ErrnoException).code ?? cause.message})`,
          { cause },
        ),
      ),
    );
    socket.on('close', () =>
      this.close(new UpstreamError('ERR_UPSTREAM_IO', 'multiplexed upstream connection closed')),
    );
    socket.resume();
  }

  /** Requests that could start now. */
  get room(): number {
    return this.closed || this.retiring ? 0 : this.options.maxReqs - this.active.size - this.draining.size;
  }

  /**
   * Takes no more requests and closes once those on it are over (at once if none are): the
   * connection's place below max_conns is wanted by a request that needs one of its own.
   */
  retire(): void {
    this.retiring = true;
    if (this.load === 0) this.close();
  }

  get load(): number {
    return this.active.size + this.draining.size;
  }

  /** Starts `request` on a free id; the caller checked `room`. */
  start(request: ExchangeRequest, sink: ExchangeSink, inlineBody: Buffer = EMPTY): MuxExchange {
    const id = this.freeIds.length > 0 ? (this.freeIds.pop() as number) : this.nextId++;
    const exchange = new MuxExchange(this, id, request, sink, this.options.bufferLimit);
    this.active.set(id, exchange);
    try {
      exchange.start(inlineBody);
    } catch (error) {
      // Not encodable (EncodeError): nothing was written, the id is free again.
      exchange.dispose();
      this.active.delete(id);
      this.freeIds.push(id);
      throw error;
    }
    this.requests++;
    return exchange;
  }

  write(data: Buffer): void {
    if (!this.closed) this.socket.write(data);
  }

  abortRequest(id: number): void {
    this.write(encodeAbortRequest(id));
  }

  finished(id: number, answered: boolean): void {
    if (this.active.get(id) !== undefined) this.active.delete(id);
    if (answered) {
      this.draining.delete(id);
      this.freeIds.push(id);
    } else {
      this.draining.add(id);
    }
    if (this.load === 0 && !this.closed) {
      if (this.retiring) this.close();
      else this.options.onIdle(this);
    }
  }

  /** Closes the socket; every request still on it fails with `error`. */
  close(error?: GatewayError): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    const lost = error ?? new UpstreamError('ERR_UPSTREAM_IO', 'multiplexed upstream connection closed');
    const failed = error !== undefined && this.active.size > 0;
    for (const exchange of [...this.active.values()]) exchange.onConnectionLost(lost);
    this.active.clear();
    this.draining.clear();
    this.options.onClosed(this, failed);
  }

  private onRecord(type: number, id: number, content: Buffer): void {
    const exchange = this.active.get(id);
    if (exchange === undefined) {
      if (this.draining.has(id)) {
        if (type === RecordType.END_REQUEST) this.finished(id, true);
        return;
      }
      throw new ProtocolError(
        'ERR_FCGI_REQUEST_ID',
        `upstream sent a record for request id ${id}, which is not in use`,
      );
    }
    switch (type) {
      case RecordType.STDOUT:
        if (content.length > 0) exchange.onStdout(content);
        return;
      case RecordType.STDERR:
        if (content.length > 0) exchange.onStderr(content);
        return;
      case RecordType.END_REQUEST:
        if (content.length >= 5 && content[4] === ProtocolStatus.CANT_MPX_CONN)
          this.options.onCantMultiplex?.();
        exchange.onEndRequest(content);
        return;
      default:
        throw new ProtocolError(
          'ERR_FCGI_UNEXPECTED_RECORD',
          `upstream sent unexpected FastCGI record type ${type}`,
        );
    }
  }
}
