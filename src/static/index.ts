/**
 * Static file serving: map a uri to a file (root / alias, symlink policy), decide with nginx's
 * try_files / index rules, send the file (validators, preconditions, ranges, HEAD).
 */

export {
  type ConditionalHeaders,
  type EntityTag,
  evaluatePreconditions,
  ifRangeMatches,
  makeEtag,
  parseEtagList,
  type PreconditionOutcome,
} from './conditional.ts';
export { type BodySegment, FILE_TRUNCATED, FileBodyReadable } from './file-body.ts';
export { formatHttpDate, parseHttpDate } from './http-date.ts';
export {
  CHARSET_TYPES,
  DEFAULT_MIME_TABLE,
  duplicateExtension,
  extendMimeTable,
  extensionOf,
  MIME_TYPES,
  type MimeTable,
  mimeTypeFor,
  withCharset,
} from './mime-types.ts';
export { type ByteRange, contentRange, parseRange, planMultipart, type RangeOutcome } from './range.ts';
export {
  confineFilePath,
  type DocumentMapping,
  type Lookup,
  StaticRoot,
  type StaticRootOptions,
  type SymlinkPolicy,
} from './resolve.ts';
export {
  DEFAULT_MAX_RANGES,
  DEFAULT_READ_CHUNK,
  type ServeFileOptions,
  type ServeRequest,
  type ServeResult,
  serveFile,
} from './serve.ts';
export {
  type CompiledTryFiles,
  compileIndex,
  compileTryFiles,
  DEFAULT_INDEX,
  escapePath,
  expandUriOnly,
  type StaticDecision,
  type TryFilesEntry,
  type TryFilesFallback,
  type TryFilesOptions,
  tryFiles,
} from './try-files.ts';
