/**
 * FastCGI 1.0 wire constants (FastCGI Specification, Open Market, 29 April 1996, section 8).
 * Plain `as const` objects: erasable syntax, and the values are what goes on the wire.
 */

/** `FCGI_VERSION_1`: the only version; a record with any other version byte is malformed. */
export const FCGI_VERSION_1 = 1;

/** `FCGI_HEADER_LEN`: every record starts with 8 bytes (the spec promises never to shrink it). */
export const FCGI_HEADER_LEN = 8;

/** contentLength is a 16-bit field, so one record carries at most 65535 content bytes. */
export const FCGI_MAX_CONTENT_LENGTH = 65535;

/** paddingLength is an 8-bit field: receivers must skip up to 255 padding bytes. */
export const FCGI_MAX_PADDING_LENGTH = 255;

/** Management records (GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE) use request id 0. */
export const FCGI_NULL_REQUEST_ID = 0;

/** Highest request id a 16-bit field can carry. */
export const FCGI_MAX_REQUEST_ID = 65535;

/** Record types, spec section 8. */
export const RecordType = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** `FCGI_MAXTYPE`: record types above it are unknown to a 1.0 peer. */
export const FCGI_MAXTYPE = 11;

/** Roles carried in the BEGIN_REQUEST body. */
export const Role = {
  RESPONDER: 1,
  AUTHORIZER: 2,
  FILTER: 3,
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/** BEGIN_REQUEST flag: the web server, not the application, closes the connection afterwards. */
export const FCGI_KEEP_CONN = 1;

/** protocolStatus of END_REQUEST. */
export const ProtocolStatus = {
  REQUEST_COMPLETE: 0,
  CANT_MPX_CONN: 1,
  OVERLOADED: 2,
  UNKNOWN_ROLE: 3,
} as const;
export type ProtocolStatus = (typeof ProtocolStatus)[keyof typeof ProtocolStatus];

/** Variable names defined for GET_VALUES / GET_VALUES_RESULT (spec section 4.1). */
export const ManagementName = {
  MAX_CONNS: 'FCGI_MAX_CONNS',
  MAX_REQS: 'FCGI_MAX_REQS',
  MPXS_CONNS: 'FCGI_MPXS_CONNS',
} as const;
export type ManagementName = (typeof ManagementName)[keyof typeof ManagementName];

/**
 * Stream record types: the stream's value is the concatenation of the records' contents and
 * an empty record ends it (spec section 3.3), so a receiver may take the content in pieces.
 */
export function isStreamType(type: number): boolean {
  return type >= RecordType.PARAMS && type <= RecordType.DATA;
}

const TYPE_NAMES: readonly string[] = [
  'type 0',
  'BEGIN_REQUEST',
  'ABORT_REQUEST',
  'END_REQUEST',
  'PARAMS',
  'STDIN',
  'STDOUT',
  'STDERR',
  'DATA',
  'GET_VALUES',
  'GET_VALUES_RESULT',
  'UNKNOWN_TYPE',
];

/** A record type's name for messages and logs (`FCGI_` prefix dropped). */
export function recordTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `type ${type}`;
}
