import type { IncomingMessage, ServerResponse } from 'node:http';
import { SpillBuffer } from '../buffering/spill-buffer.ts';
import { ClientRequestError } from '../errors.ts';
import type { RequestBody } from '../transport/exchange.ts';

export interface BodyLimits {
  /** nginx client_max_body_size; 0 = no limit. */
  readonly maxBodySize: number;
  /** nginx client_body_buffer_size: memory before a temp file. */
  readonly bodyBufferSize: number;
  /** nginx client_body_temp_path. */
  readonly bodyTempPath: string;
  /** nginx client_body_timeout: longest pause between two reads of the body. */
  readonly bodyTimeout: number;
}

/** The body as it will be sent, and the CONTENT_LENGTH that announces it exactly. */
export interface PreparedBody {
  readonly body: RequestBody;
  readonly contentLength: number;
  /** The spill to dispose when the request finishes. */
  readonly spill: SpillBuffer | undefined;
}

/**
 * Decides how the client's body travels. A known length larger than client_body_buffer_size is
 * streamed (the exchange reads the request as the backend takes it); a smaller one, and a
 * chunked body, are spooled first so CONTENT_LENGTH is exact
 * (SCGI requires it, and PHP reads CONTENT_LENGTH bytes). Over client_max_body_size -> 413,
 * decided from Content-Length before any byte is read, or as spooled bytes arrive.
 * `Expect: 100-continue` is answered only once the body is really wanted.
 */
export async function prepareBody(
  req: IncomingMessage,
  res: ServerResponse,
  limits: BodyLimits,
  expectContinue: boolean,
  passBody: boolean,
  requestBuffering = true,
): Promise<PreparedBody> {
  const chunked = req.headers['transfer-encoding'] !== undefined;
  const declared = req.headers['content-length'];
  const length = declared === undefined ? 0 : Number(declared);
  if (!chunked && limits.maxBodySize > 0 && length > limits.maxBodySize) {
    throw new ClientRequestError(
      'ERR_BODY_TOO_LARGE',
      `client intended to send too large body: ${length} bytes`,
      413,
    );
  }
  if (!passBody) {
    // The body is not forwarded: announce none (E19) and let node:http discard it.
    return { body: NONE, contentLength: 0, spill: undefined };
  }
  if (!chunked && length === 0) return { body: NONE, contentLength: 0, spill: undefined };
  if (expectContinue) res.writeContinue();
  // nginx request_buffering on (the default): the whole body is read first, in memory up to
  // client_body_buffer_size and then in a temp file, so a slow upload holds no backend worker
  // and the request can be replayed on another backend. Off: a body of known length larger
  // than client_body_buffer_size is streamed as it arrives (a smaller one still goes with the
  // request head in one write). A chunked body is always read whole: SCGI needs an exact
  // CONTENT_LENGTH, and PHP reads CONTENT_LENGTH bytes.
  if (!requestBuffering && !chunked && length > limits.bodyBufferSize) {
    setBodyTimeout(req, limits.bodyTimeout);
    return { body: { kind: 'stream', source: req, length }, contentLength: length, spill: undefined };
  }
  const spill = new SpillBuffer({
    memoryLimit: limits.bodyBufferSize,
    maxBytes: limits.maxBodySize,
    tempDir: limits.bodyTempPath,
  });
  setBodyTimeout(req, limits.bodyTimeout);
  try {
    await spill.fill(req);
  } catch (error) {
    await spill.dispose();
    // node:http's "aborted" (ECONNRESET): the client went away mid-body. nginx logs it at
    // info as "client prematurely closed connection", not as a gateway fault.
    if ((error as NodeJS.ErrnoException).code === 'ECONNRESET') {
      throw new ClientRequestError(
        'ERR_CLIENT_BODY_INCOMPLETE',
        'client prematurely closed connection while sending the body',
        400,
        { cause: error },
      );
    }
    throw error;
  }
  if (!chunked && spill.length !== length) {
    await spill.dispose();
    throw new ClientRequestError(
      'ERR_CLIENT_BODY_INCOMPLETE',
      'client sent fewer body bytes than announced',
      400,
    );
  }
  return { body: { kind: 'spooled', spill }, contentLength: spill.length, spill };
}

/** client_body_timeout applies between reads of the body only, not while the response streams. */
function setBodyTimeout(req: IncomingMessage, ms: number): void {
  if (ms <= 0) return;
  req.setTimeout(ms, onBodyTimeout);
  req.once('end', clearBodyTimeout);
}

function onBodyTimeout(this: IncomingMessage): void {
  this.destroy(new ClientRequestError('ERR_BODY_TIMEOUT', 'client timed out while sending the body', 408));
}

function clearBodyTimeout(this: IncomingMessage): void {
  this.socket?.setTimeout(0);
}

const NONE: RequestBody = { kind: 'none' };
