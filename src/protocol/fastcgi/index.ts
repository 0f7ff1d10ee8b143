export {
  FCGI_HEADER_LEN,
  FCGI_KEEP_CONN,
  FCGI_MAX_CONTENT_LENGTH,
  FCGI_MAX_PADDING_LENGTH,
  FCGI_MAX_REQUEST_ID,
  FCGI_MAXTYPE,
  FCGI_NULL_REQUEST_ID,
  FCGI_VERSION_1,
  isStreamType,
  ManagementName,
  ProtocolStatus,
  RecordType,
  Role,
  recordTypeName,
} from './constants.ts';
export {
  type BeginRequestBody,
  decodeBeginRequest,
  decodeEndRequest,
  decodeUnknownType,
  type EndRequestBody,
  endRequestError,
} from './bodies.ts';
export {
  FastCgiRecordDecoder,
  type FastCgiRecordDecoderOptions,
  type FastCgiRecordHandler,
} from './decoder.ts';
export {
  encodeAbortRequest,
  encodeBeginRequest,
  encodeEndOfStream,
  encodeEndRequest,
  encodeFastCgiRequestHead,
  encodeGetValues,
  encodeGetValuesResult,
  encodeParams,
  encodeStream,
  encodeUnknownType,
  frameStream,
} from './encode.ts';
export {
  DEFAULT_MAX_PARAMS_BYTES,
  DEFAULT_MAX_PARAMS_PAIRS,
  decodePairs,
  encodePairs,
  type PairLimits,
  PairsCollector,
  pairsByteLength,
} from './pairs.ts';
export {
  decodeRecordHeader,
  encodeRecordHeader,
  paddingFor,
  type RecordHeader,
} from './record.ts';
