export {
  DEFAULT_SCGI_MAX_HEADER_BYTES,
  ScgiRequestDecoder,
  type ScgiRequestDecoderOptions,
  type ScgiRequestHandler,
} from './decoder.ts';
export { encodeScgiHead } from './encode.ts';
