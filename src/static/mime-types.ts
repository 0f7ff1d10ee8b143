/**
 * Content types by file extension: the common types of nginx's `mime.types`, as data (type ->
 * extensions), plus a few modern ones it lacks (wasm, mjs, avif, webmanifest). The lookup
 * lower-cases the extension, as ngx_http_set_content_type does.
 *
 * No charset here: nginx adds one only when `charset` is configured (see `withCharset`).
 */

export const MIME_TYPES: Readonly<Record<string, readonly string[]>> = {
  'text/html': ['html', 'htm', 'shtml'],
  'text/css': ['css'],
  'text/xml': ['xml'],
  'text/plain': ['txt', 'text', 'log', 'conf', 'ini'],
  'text/csv': ['csv'],
  'text/markdown': ['md', 'markdown'],
  'text/calendar': ['ics'],
  'text/mathml': ['mml'],
  'text/vnd.sun.j2me.app-descriptor': ['jad'],
  'text/vnd.wap.wml': ['wml'],
  'text/x-component': ['htc'],
  'text/vtt': ['vtt'],

  'application/javascript': ['js', 'mjs', 'cjs'],
  'application/json': ['json', 'map'],
  'application/ld+json': ['jsonld'],
  'application/manifest+json': ['webmanifest'],
  'application/atom+xml': ['atom'],
  'application/rss+xml': ['rss'],
  'application/xhtml+xml': ['xhtml'],
  'application/xspf+xml': ['xspf'],
  'application/wasm': ['wasm'],
  'application/pdf': ['pdf'],
  'application/postscript': ['ps', 'eps', 'ai'],
  'application/rtf': ['rtf'],
  'application/java-archive': ['jar', 'war', 'ear'],
  'application/mac-binhex40': ['hqx'],
  'application/msword': ['doc'],
  'application/vnd.ms-excel': ['xls'],
  'application/vnd.ms-powerpoint': ['ppt'],
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': ['docx'],
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': ['xlsx'],
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': ['pptx'],
  'application/vnd.oasis.opendocument.text': ['odt'],
  'application/vnd.oasis.opendocument.spreadsheet': ['ods'],
  'application/vnd.oasis.opendocument.presentation': ['odp'],
  'application/vnd.oasis.opendocument.graphics': ['odg'],
  'application/vnd.apple.mpegurl': ['m3u8'],
  'application/vnd.google-earth.kml+xml': ['kml'],
  'application/vnd.google-earth.kmz': ['kmz'],
  'application/vnd.wap.wmlc': ['wmlc'],
  'application/vnd.android.package-archive': ['apk'],
  'application/epub+zip': ['epub'],
  'application/x-7z-compressed': ['7z'],
  'application/x-bzip2': ['bz2'],
  'application/gzip': ['gz', 'tgz'],
  'application/x-xz': ['xz'],
  'application/zstd': ['zst'],
  'application/x-tar': ['tar'],
  'application/zip': ['zip'],
  'application/x-rar-compressed': ['rar'],
  'application/x-cocoa': ['cco'],
  'application/x-java-archive-diff': ['jardiff'],
  'application/x-java-jnlp-file': ['jnlp'],
  'application/x-makeself': ['run'],
  'application/x-perl': ['pl', 'pm'],
  'application/x-pilot': ['prc', 'pdb'],
  'application/x-redhat-package-manager': ['rpm'],
  'application/x-sea': ['sea'],
  'application/x-shockwave-flash': ['swf'],
  'application/x-stuffit': ['sit'],
  'application/x-tcl': ['tcl', 'tk'],
  'application/x-x509-ca-cert': ['der', 'pem', 'crt'],
  'application/x-xpinstall': ['xpi'],
  'application/vnd.debian.binary-package': ['deb'],
  'application/octet-stream': ['bin', 'exe', 'dll', 'dmg', 'iso', 'img', 'msi', 'msp', 'msm'],

  'image/avif': ['avif'],
  'image/gif': ['gif'],
  'image/jpeg': ['jpeg', 'jpg'],
  'image/png': ['png'],
  'image/svg+xml': ['svg', 'svgz'],
  'image/tiff': ['tif', 'tiff'],
  'image/vnd.wap.wbmp': ['wbmp'],
  'image/webp': ['webp'],
  'image/x-icon': ['ico'],
  'image/x-jng': ['jng'],
  'image/bmp': ['bmp'],
  'image/heic': ['heic'],
  'image/jxl': ['jxl'],

  'font/woff': ['woff'],
  'font/woff2': ['woff2'],
  'font/ttf': ['ttf'],
  'font/otf': ['otf'],
  'application/vnd.ms-fontobject': ['eot'],

  'audio/midi': ['mid', 'midi', 'kar'],
  'audio/mpeg': ['mp3'],
  'audio/ogg': ['ogg', 'oga', 'opus'],
  'audio/flac': ['flac'],
  'audio/wav': ['wav'],
  'audio/x-m4a': ['m4a'],
  'audio/aac': ['aac'],
  'audio/x-realaudio': ['ra'],

  'video/3gpp': ['3gpp', '3gp'],
  'video/mp2t': ['ts'],
  'video/mp4': ['mp4', 'm4v'],
  'video/mpeg': ['mpeg', 'mpg'],
  'video/ogg': ['ogv'],
  'video/quicktime': ['mov'],
  'video/webm': ['webm'],
  'video/x-flv': ['flv'],
  'video/x-mng': ['mng'],
  'video/x-ms-asf': ['asx', 'asf'],
  'video/x-ms-wmv': ['wmv'],
  'video/x-msvideo': ['avi'],
  'video/x-matroska': ['mkv'],
};

/** An extension (lower case, no dot) -> content type table. */
export type MimeTable = ReadonlyMap<string, string>;

const BY_EXTENSION: MimeTable = (() => {
  const map = new Map<string, string>();
  for (const [type, extensions] of Object.entries(MIME_TYPES)) {
    for (const ext of extensions) {
      if (map.has(ext)) throw new Error(`mime-types: extension ${ext} listed twice`);
      map.set(ext, type);
    }
  }
  return map;
})();

/** The built-in table (nginx's mime.types and a few modern types). */
export const DEFAULT_MIME_TABLE: MimeTable = BY_EXTENSION;

/**
 * `base` with `types` (type -> extensions, as nginx's `types { type ext ...; }` block) on top:
 * an extension listed here takes this type, the others keep theirs. nginx replaces the whole
 * table when a context has a `types` block, which silently turns every other file into
 * default_type; Portico adds, as Apache's AddType does. An extension listed under two types
 * in one map is a mistake the caller reports (`duplicateExtension`).
 */
export function extendMimeTable(
  types: Readonly<Record<string, readonly string[]>> | undefined,
  base: MimeTable = BY_EXTENSION,
): MimeTable {
  if (types === undefined || Object.keys(types).length === 0) return base;
  const map = new Map(base);
  for (const [type, extensions] of Object.entries(types)) {
    for (const ext of extensions) map.set(ext.toLowerCase(), type);
  }
  return map;
}

/** The first extension listed under two types in `types` (case-insensitive), or undefined. */
export function duplicateExtension(types: Readonly<Record<string, readonly string[]>>): string | undefined {
  const seen = new Set<string>();
  for (const extensions of Object.values(types)) {
    for (const ext of extensions) {
      const lower = ext.toLowerCase();
      if (seen.has(lower)) return lower;
      seen.add(lower);
    }
  }
  return undefined;
}

/** Types nginx's `charset_types` covers by default, the ones `withCharset` decorates. */
export const CHARSET_TYPES: ReadonlySet<string> = new Set([
  'text/html',
  'text/xml',
  'text/plain',
  'text/vnd.wap.wml',
  'application/javascript',
  'application/rss+xml',
]);

/**
 * The extension of the last path segment of `name` (a latin1 string or a Buffer of raw bytes):
 * the bytes after its last `.`, or '' for none. A leading dot (`.htaccess`) is not an
 * extension, unlike nginx, which would look up `htaccess`; nothing is listed for it either way.
 */
export function extensionOf(name: string | Buffer): string {
  const s = typeof name === 'string' ? name : name.toString('latin1');
  const slash = s.lastIndexOf('/');
  const dot = s.lastIndexOf('.');
  if (dot <= slash + 1) return '';
  return s.slice(dot + 1).toLowerCase();
}

/** Content type for a file name in `table`, or `fallback` (nginx `default_type`) when unknown. */
export function mimeTypeFor(
  name: string | Buffer,
  fallback = 'application/octet-stream',
  table: MimeTable = BY_EXTENSION,
): string {
  const ext = extensionOf(name);
  return ext === '' ? fallback : (table.get(ext) ?? fallback);
}

/** `type; charset=...` for the types in `types` (nginx `charset` + `charset_types`), else `type`. */
export function withCharset(type: string, charset: string | undefined, types = CHARSET_TYPES): string {
  return charset === undefined || charset === '' || !types.has(type) ? type : `${type}; charset=${charset}`;
}
