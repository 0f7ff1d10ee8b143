import type { Socket } from 'node:net';
import { ProtocolError, UpstreamError } from '../errors.ts';
import {
  decodeEndRequest,
  encodeEndOfStream,
  encodeFastCgiRequestHead,
  endRequestError,
  FastCgiRecordDecoder,
  type FastCgiRecordHandler,
  frameStream,
  RecordType,
} from '../protocol/fastcgi/index.ts';
import { type ExchangeOptions, type ExchangeRequest, type ExchangeSink, SocketExchange } from './exchange.ts';
import { StderrLines } from './stderr-lines.ts';

/** nginx and httpd always use request id 1 on a non-multiplexed connection. */
const REQUEST_ID = 1;

export interface FastCgiExchangeOptions extends ExchangeOptions {
  /**
   * Sets FCGI_KEEP_CONN (nginx fastcgi_keep_conn on; httpd sets it when reuse is enabled): the
   * application leaves the connection open, and a clean end is reported reusable to onRelease.
   */
  readonly keepConn?: boolean;
}

/**
 * FastCGI responder: BEGIN_REQUEST + PARAMS + STDIN out; STDOUT, STDERR and END_REQUEST in.
 * The response ends at END_REQUEST; a connection that closes before it is a truncated
 * response, never a silent success (semantics.md E18).
 *
 * With keepConn the connection is reusable only when (C.1.11, E13): END_REQUEST said
 * REQUEST_COMPLETE, the record (padding included) ended exactly at the end of the read that
 * carried it with nothing after it, nothing else is buffered, the whole request was sent, and
 * neither the client nor the gateway cut the response short (a HEAD or 304 whose body is not
 * read, a client gone: abort() never reuses). The empty STDOUT record is not required before
 * END_REQUEST: php-fpm never sends it (its STDOUT ends at END_REQUEST), and nginx and httpd do
 * not ask for it; STDOUT after that empty record stays a protocol error.
 */
export class FastCgiExchange extends SocketExchange implements FastCgiRecordHandler {
  private readonly decoder: FastCgiRecordDecoder;
  private readonly keepConn: boolean;
  private stdoutClosed = false;
  private readonly stderr: StderrLines;
  /** A clean END_REQUEST was decoded; the exchange completes once the rest of its read is seen. */
  private endSeen = false;
  /** Bytes after END_REQUEST in the same read. */
  private trailing = false;

  constructor(
    socket: Socket,
    request: ExchangeRequest,
    sink: ExchangeSink,
    options?: FastCgiExchangeOptions,
  ) {
    super(socket, request, sink, false, options);
    this.keepConn = options?.keepConn === true;
    this.decoder = new FastCgiRecordDecoder(this);
    this.stderr = new StderrLines((line) => this.sink.onStderr(line));
  }

  protected encodeHead(inlineBody: Buffer | undefined): Buffer {
    return encodeFastCgiRequestHead(
      REQUEST_ID,
      this.request.params,
      this.keepConn,
      inlineBody,
      undefined,
      this.request.bodyRecordSize,
    );
  }

  protected writeBody(chunk: Buffer): boolean {
    const socket = this.socket;
    socket.cork();
    let ok = true;
    for (const piece of frameStream(RecordType.STDIN, REQUEST_ID, chunk, this.request.bodyRecordSize))
      ok = socket.write(piece);
    socket.uncork();
    return ok;
  }

  protected writeBodyEnd(): void {
    this.socket.write(encodeEndOfStream(RecordType.STDIN, REQUEST_ID));
  }

  protected onSocketData(chunk: Buffer): void {
    try {
      this.decoder.push(chunk);
    } catch (error) {
      if (this.endSeen) {
        // Garbage after a complete response: the response stands, the connection does not.
        this.trailing = true;
      } else {
        this.fail(
          error instanceof ProtocolError
            ? error
            : new ProtocolError('ERR_FCGI_DECODE', 'upstream sent an invalid FastCGI record', {
                cause: error,
              }),
        );
        return;
      }
    }
    if (this.endSeen) {
      this.complete(this.keepConn && !this.trailing && this.decoder.atRecordBoundary);
    }
  }

  protected onSocketEnd(): void {
    if (this.done) return;
    this.fail(
      new UpstreamError(
        this.headDone ? 'ERR_UPSTREAM_TRUNCATED' : 'ERR_UPSTREAM_NO_HEAD',
        this.headDone
          ? 'upstream closed the connection before FCGI_END_REQUEST (response truncated)'
          : 'upstream prematurely closed FastCGI stdout before the response header',
      ),
    );
  }

  onRecord(type: number, requestId: number, content: Buffer): void {
    if (this.done) return;
    if (this.endSeen) {
      this.trailing = true;
      return;
    }
    if (requestId !== REQUEST_ID) {
      this.fail(
        new ProtocolError('ERR_FCGI_REQUEST_ID', `upstream sent a record for request id ${requestId}`),
      );
      return;
    }
    switch (type) {
      case RecordType.STDOUT:
        // A stderr message without a newline (php-fpm's "PHP message: ..." records have none)
        // is complete once stdout follows: logged, and checked for catch_stderr, before the
        // head it may invalidate.
        if (this.stderr.partial) this.stderr.flush();
        if (content.length === 0) {
          this.stdoutClosed = true;
        } else if (this.stdoutClosed) {
          this.fail(new ProtocolError('ERR_FCGI_STDOUT_AFTER_END', 'upstream sent stdout after closing it'));
        } else {
          this.deliverStdout(content);
        }
        return;
      case RecordType.STDERR:
        this.stderr.push(content);
        return;
      case RecordType.END_REQUEST: {
        this.stderr.flush();
        const end = decodeEndRequest(content);
        const error = endRequestError(end.protocolStatus);
        if (error !== undefined) this.fail(error);
        else this.endSeen = true;
        return;
      }
      default:
        this.fail(
          new ProtocolError(
            'ERR_FCGI_UNEXPECTED_RECORD',
            `upstream sent unexpected FastCGI record type ${type}`,
          ),
        );
    }
  }
}
