/**
 * The fixed 8-byte bodies of BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE (spec 5.1, 5.5, 4.2),
 * and what an END_REQUEST protocolStatus means for the gateway.
 *
 * A body shorter than 8 bytes is malformed; longer bodies are read for their first 8 bytes
 * (nginx and httpd do not even parse END_REQUEST, so we stay lenient where it is harmless).
 */
import { type GatewayError, ProtocolError, UpstreamError } from '../../errors.ts';
import { FCGI_KEEP_CONN, ProtocolStatus, recordTypeName, RecordType } from './constants.ts';

export interface BeginRequestBody {
  readonly role: number;
  readonly flags: number;
  /** FCGI_KEEP_CONN: the web server, not the application, closes the connection. */
  readonly keepConn: boolean;
}

export interface EndRequestBody {
  /** The application's exit status, an unsigned 32-bit value. */
  readonly appStatus: number;
  readonly protocolStatus: number;
}

function checkLength(content: Buffer, type: number): void {
  if (content.length < 8) {
    throw new ProtocolError(
      'ERR_FCGI_BODY_LENGTH',
      `FastCGI ${recordTypeName(type)} body of ${content.length} bytes, expected 8`,
    );
  }
}

export function decodeBeginRequest(content: Buffer): BeginRequestBody {
  checkLength(content, RecordType.BEGIN_REQUEST);
  const flags = content[2]!;
  return { role: (content[0]! << 8) | content[1]!, flags, keepConn: (flags & FCGI_KEEP_CONN) !== 0 };
}

export function decodeEndRequest(content: Buffer): EndRequestBody {
  checkLength(content, RecordType.END_REQUEST);
  return { appStatus: content.readUInt32BE(0), protocolStatus: content[4]! };
}

/** The record type an UNKNOWN_TYPE record reports as not understood. */
export function decodeUnknownType(content: Buffer): number {
  checkLength(content, RecordType.UNKNOWN_TYPE);
  return content[0]!;
}

/**
 * The error an END_REQUEST protocolStatus stands for; `undefined` for REQUEST_COMPLETE.
 *
 * - CANT_MPX_CONN: the application refused a second concurrent request on this connection.
 *   `UpstreamError` (`ERR_FCGI_CANT_MPX_CONN`): nothing was processed, another connection or
 *   member may take it.
 * - OVERLOADED: the application is out of a resource (spec 5.5). In spirit an HTTP 503, but
 *   kept as `UpstreamError` (`ERR_FCGI_OVERLOADED`, status 502, next_upstream `error`) so the
 *   attempt loop treats it like any refusal; the proxy may map the code to 503.
 * - UNKNOWN_ROLE: the application does not play the role asked for, a configuration mismatch.
 *   `UpstreamError` (`ERR_FCGI_UNKNOWN_ROLE`).
 * - any other value: not FastCGI 1.0, `ProtocolError` (`ERR_FCGI_PROTOCOL_STATUS`).
 */
export function endRequestError(protocolStatus: number): GatewayError | undefined {
  switch (protocolStatus) {
    case ProtocolStatus.REQUEST_COMPLETE:
      return undefined;
    case ProtocolStatus.CANT_MPX_CONN:
      return new UpstreamError(
        'ERR_FCGI_CANT_MPX_CONN',
        'FastCGI application refused the request: it cannot multiplex connections (FCGI_CANT_MPX_CONN)',
      );
    case ProtocolStatus.OVERLOADED:
      return new UpstreamError(
        'ERR_FCGI_OVERLOADED',
        'FastCGI application refused the request: overloaded (FCGI_OVERLOADED)',
      );
    case ProtocolStatus.UNKNOWN_ROLE:
      return new UpstreamError(
        'ERR_FCGI_UNKNOWN_ROLE',
        'FastCGI application refused the request: unknown role (FCGI_UNKNOWN_ROLE)',
      );
    default:
      return new ProtocolError(
        'ERR_FCGI_PROTOCOL_STATUS',
        `FastCGI END_REQUEST with unknown protocolStatus ${protocolStatus}`,
      );
  }
}
