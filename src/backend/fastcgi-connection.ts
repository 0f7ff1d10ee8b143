/**
 * One transport connection from a web server to the FastCGI application (spec 3): decodes
 * records, answers management records, routes application records by request id, and
 * serialises every request's output onto the socket.
 *
 * - Management records (request id 0, spec 4): GET_VALUES is answered with the values of
 *   FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS that were asked for (unknown names are
 *   left out); any other type gets UNKNOWN_TYPE.
 * - Request ids (spec 3.3): an id is active from BEGIN_REQUEST to our END_REQUEST; records for
 *   an inactive id are ignored. BEGIN_REQUEST for an active id is a protocol error.
 * - Refusals, each an END_REQUEST: a second concurrent request when multiplexing is off
 *   (CANT_MPX_CONN), a role other than Responder (UNKNOWN_ROLE), maxReqs reached (OVERLOADED).
 * - FCGI_KEEP_CONN clear (spec 5.1): the connection closes once that request ended and no
 *   other is active; set, the web server decides when it closes.
 * - Output: every writer frames its records and writes them in one cork; when the socket's
 *   buffer is full (`write` returned false) each writer's callback waits for 'drain', so
 *   handlers see backpressure through `res.write()`.
 * - A malformed record stream (bad version, an oversized discrete record, a bad
 *   BEGIN_REQUEST) cannot be resynchronised: onError, and the connection is destroyed.
 */
import type { Socket } from 'node:net';
import { ProtocolError } from '../errors.ts';
import { decodeBeginRequest } from '../protocol/fastcgi/bodies.ts';
import { ManagementName, ProtocolStatus, RecordType, Role } from '../protocol/fastcgi/constants.ts';
import { FastCgiRecordDecoder, type FastCgiRecordHandler } from '../protocol/fastcgi/decoder.ts';
import { encodeEndRequest, encodeGetValuesResult, encodeUnknownType } from '../protocol/fastcgi/encode.ts';
import { decodePairs } from '../protocol/fastcgi/pairs.ts';
import type { Param } from '../protocol/params.ts';
import type { BackendHandler } from './dispatch.ts';
import { FastCgiExchange } from './fastcgi-exchange.ts';
import type { ResolvedOptions } from './options.ts';
import type { WriteCallback } from './response.ts';

/** What the connections of one server share. */
export interface FastCgiContext {
  readonly handler: BackendHandler;
  readonly options: ResolvedOptions;
  /** Requests active over all connections, against maxReqs. */
  activeRequests: number;
  /** The server is closing: idle connections close, busy ones once idle. */
  closing: boolean;
  readonly connections: Set<FastCgiConnection>;
}

/** A GET_VALUES record is small; these bound what a hostile one makes us decode. */
const GET_VALUES_LIMITS = { maxBytes: 65535, maxPairs: 64 } as const;

export class FastCgiConnection implements FastCgiRecordHandler {
  readonly socket: Socket;
  private readonly context: FastCgiContext;
  private readonly decoder: FastCgiRecordDecoder;
  private readonly requests = new Map<number, FastCgiExchange>();
  private drainWaiters: WriteCallback[] = [];
  /** Requests whose unread body paused the socket. */
  private stalledCount = 0;
  /** We sent (or are about to send) FIN: no new work, input is drained and dropped. */
  private ending = false;
  private closed = false;
  private lingerTimer: NodeJS.Timeout | undefined = undefined;

  constructor(socket: Socket, context: FastCgiContext) {
    this.socket = socket;
    this.context = context;
    this.decoder = new FastCgiRecordDecoder(this);
    context.connections.add(this);
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onClose);
  }

  get options(): ResolvedOptions {
    return this.context.options;
  }

  get handler(): BackendHandler {
    return this.context.handler;
  }

  get requestCount(): number {
    return this.requests.size;
  }

  get idle(): boolean {
    return this.requests.size === 0;
  }

  onRecord(type: number, requestId: number, content: Buffer): void {
    if (requestId === 0) {
      this.management(type, content);
      return;
    }
    switch (type) {
      case RecordType.BEGIN_REQUEST:
        this.begin(requestId, content);
        return;
      case RecordType.ABORT_REQUEST:
        this.requests.get(requestId)?.abort();
        return;
      case RecordType.PARAMS:
        this.requests.get(requestId)?.onParams(content);
        return;
      case RecordType.STDIN:
        this.requests.get(requestId)?.onStdin(content);
        return;
      default:
      // DATA belongs to the Filter role, which is refused at BEGIN_REQUEST; the other types
      // only travel from application to web server. Neither means anything here.
    }
  }

  /** Writes records in one cork; `callback` runs once the socket can take more. */
  send(pieces: Buffer[], callback?: WriteCallback): void {
    const socket = this.socket;
    if (this.closed || socket.destroyed || !socket.writable) {
      callback?.();
      return;
    }
    let ok = true;
    socket.cork();
    for (let i = 0; i < pieces.length; i++) ok = socket.write(pieces[i]!);
    socket.uncork();
    if (callback === undefined) return;
    if (ok) callback();
    else this.drainWaiters.push(callback);
  }

  stall(exchange: FastCgiExchange): void {
    if (exchange.stalled || this.closed) return;
    exchange.stalled = true;
    if (this.stalledCount++ === 0) this.socket.pause();
  }

  unstall(exchange: FastCgiExchange): void {
    if (!exchange.stalled) return;
    exchange.stalled = false;
    if (--this.stalledCount === 0 && !this.closed) this.socket.resume();
  }

  /** The exchange sent END_REQUEST (or gave up): its id is free again. */
  requestDone(exchange: FastCgiExchange): void {
    if (this.requests.get(exchange.id) !== exchange) return;
    this.requests.delete(exchange.id);
    this.context.activeRequests--;
    this.unstall(exchange);
    if (!exchange.keepConn) this.ending = true;
    if (this.requests.size === 0 && (this.ending || this.context.closing)) this.end();
  }

  /** Closes the connection when idle (server closing); busy ones close when their last request ends. */
  closeIfIdle(): void {
    if (this.requests.size === 0) this.end();
    else this.ending = true;
  }

  destroy(): void {
    this.socket.destroy();
  }

  unexpected(what: string, requestId: number): ProtocolError {
    return new ProtocolError('ERR_FCGI_UNEXPECTED_RECORD', `FastCGI request ${requestId}: ${what}`);
  }

  private begin(id: number, content: Buffer): void {
    if (this.requests.has(id)) throw this.unexpected('BEGIN_REQUEST for an active request id', id);
    const body = decodeBeginRequest(content);
    const o = this.context.options;
    let refusal: number | undefined;
    if (body.role !== Role.RESPONDER) refusal = ProtocolStatus.UNKNOWN_ROLE;
    else if (!o.multiplex && this.requests.size > 0) refusal = ProtocolStatus.CANT_MPX_CONN;
    else if (this.context.activeRequests >= o.maxReqs) refusal = ProtocolStatus.OVERLOADED;
    if (refusal !== undefined) {
      this.send([encodeEndRequest(id, 0, refusal)]);
      // KEEP_CONN clear: this request is answered; close unless another one is running.
      if (!body.keepConn && this.requests.size === 0) this.end();
      return;
    }
    this.requests.set(id, new FastCgiExchange(this, id, body.keepConn));
    this.context.activeRequests++;
  }

  private management(type: number, content: Buffer): void {
    if (type !== RecordType.GET_VALUES) {
      this.send([encodeUnknownType(type)]);
      return;
    }
    const o = this.context.options;
    const asked = decodePairs(content, GET_VALUES_LIMITS);
    const answer: Param[] = [];
    const seen = new Set<string>();
    for (const [name] of asked) {
      if (seen.has(name)) continue;
      seen.add(name);
      if (name === ManagementName.MAX_CONNS) answer.push([name, String(o.maxConns)]);
      else if (name === ManagementName.MAX_REQS) answer.push([name, String(o.maxReqs)]);
      else if (name === ManagementName.MPXS_CONNS) answer.push([name, o.multiplex ? '1' : '0']);
    }
    this.send([encodeGetValuesResult(answer)]);
  }

  /** FIN, then drop whatever the peer still sends until it closes or lingerMs passes. */
  private end(): void {
    if (this.closed) return;
    this.ending = true;
    if (this.socket.writableEnded) return;
    this.socket.end();
    // Keep reading: a socket closed with unread input sends RST, which can destroy the
    // response still in flight (nginx's lingering close exists for the same reason).
    this.socket.resume();
    this.lingerTimer = setTimeout(this.onLingerTimeout, this.context.options.lingerMs);
    this.lingerTimer.unref();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.socket.writableEnded) return;
    try {
      this.decoder.push(chunk);
    } catch (error) {
      this.fail(error);
    }
  };

  private fail(error: unknown): void {
    if (this.closed) return;
    this.context.options.onError(error, undefined);
    this.socket.destroy();
  }

  private readonly onDrain = (): void => {
    const waiters = this.drainWaiters;
    if (waiters.length === 0) return;
    this.drainWaiters = [];
    for (let i = 0; i < waiters.length; i++) waiters[i]!();
  };

  private readonly onSocketEnd = (): void => {
    // The web server sends nothing more: running requests are abandoned (their signals fire),
    // their responses still go out for a peer that only half-closed.
    this.ending = true;
    for (const exchange of [...this.requests.values()]) exchange.peerEnded();
    if (this.requests.size === 0) this.end();
  };

  private readonly onSocketError = (): void => {
    // ECONNRESET / EPIPE: the web server went away; 'close' follows and cleans up.
  };

  private readonly onLingerTimeout = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.closed = true;
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.context.connections.delete(this);
    const exchanges = [...this.requests.values()];
    this.context.activeRequests -= exchanges.length;
    this.requests.clear();
    for (const exchange of exchanges) exchange.connectionClosed();
    // Writers waiting for 'drain' will never get it: release them (their data is dropped).
    this.onDrain();
  };
}
