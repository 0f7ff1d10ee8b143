/**
 * Request path -> file under a document root, with nginx `root` / `alias` semantics, and the
 * checks that keep every answer inside that root.
 *
 * The URI is a latin1 string of raw bytes (the decoder's output, src/cgi/path.ts); it becomes
 * a Buffer path, so names that are not UTF-8 reach the file system byte for byte. The decoder
 * already refused control bytes and `..` that climbs above `/`; this module checks again
 * (defence in depth) because its inputs also come from config templates (try_files), index
 * names and, later, X-Sendfile / X-Accel-Redirect values written by backends.
 *
 * Refused here, whatever the caller checked:
 * - control bytes and NUL (a NUL cuts the C path: CVE-2013-4547 class);
 * - `.` / `..` segments anywhere in the joined path, which also catches nginx's "alias
 *   traversal" misconfiguration (`location /i { alias /data/w/; }` + `/i../etc/passwd`);
 * - a joined path that leaves the root by prefix (`alias /data/w` + `/ix` = `/data/wx`: nginx
 *   serves it, we do not);
 * - `%2f`, `%5c`, `%2e`, `%00` left in a decoded path: something decoded twice or meant to;
 * - symlinks that leave the root, by the `SymlinkPolicy` (nginx `disable_symlinks`), checked
 *   with realpath before use and, on Linux, again on the opened descriptor through
 *   /proc/self/fd so a symlink swapped in between the check and the open is caught.
 */

import type { Stats } from 'node:fs';
import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';

/**
 * - `always`: follow every symlink (nginx `disable_symlinks off`, its default);
 * - `inside-root`: follow a symlink only when the file's real path stays under the root's real
 *   path (our default; the root itself may be a symlink, as `current -> releases/42` deploys);
 * - `owner-match`: refuse a symlink below the root whose owner differs from its target's
 *   (nginx `disable_symlinks if_not_owner`, Apache `SymLinksIfOwnerMatch`);
 * - `never`: refuse any symlink below the root (nginx `disable_symlinks on from=<root>`).
 */
export type SymlinkPolicy = 'always' | 'inside-root' | 'owner-match' | 'never';

/**
 * How a URI maps to a path:
 * - `root`: root + uri (nginx `root`);
 * - `alias`: the location `prefix` of the uri replaced by `alias` (nginx `alias` in a prefix
 *   location);
 * - `alias-exact`: nginx `alias` in a regex location, whose value (captures substituted by the
 *   caller) is the file for exactly `uri`; a uri extending `uri` (an index name appended)
 *   extends `alias` the same way. `boundary` is the directory that must contain the result:
 *   the alias text before its first variable, cut after its last `/`.
 */
export type DocumentMapping =
  | { readonly kind: 'root'; readonly root: string }
  | { readonly kind: 'alias'; readonly alias: string; readonly prefix: string }
  | {
      readonly kind: 'alias-exact';
      /** A string is config text (UTF-8); a Buffer is bytes (captures of a decoded path in it). */
      readonly alias: string | Buffer;
      readonly uri: string;
      readonly boundary: string;
    };

export interface StaticRootOptions {
  /** Default `inside-root`. */
  readonly symlinks?: SymlinkPolicy | undefined;
}

/**
 * What is at a URI. `not-found` is a 404, `forbidden` a 403, `error` a 500 (nginx's mapping of
 * open() errors in ngx_http_static_handler: ENOENT/ENOTDIR/ENAMETOOLONG, EACCES/ELOOP, other).
 */
export type Lookup =
  | { readonly kind: 'file'; readonly path: Buffer; readonly stat: Stats }
  | { readonly kind: 'directory'; readonly path: Buffer; readonly stat: Stats }
  | { readonly kind: 'not-found'; readonly reason: string }
  | { readonly kind: 'forbidden'; readonly reason: string }
  | { readonly kind: 'error'; readonly reason: string; readonly error: unknown };

const SLASH = 0x2f;

/** `%2f` `%5c` `%2e` `%00` in any case: the escapes that become separators or dots if decoded again. */
const ENCODED_LEFTOVER = /%(?:2f|5c|2e|00)/i;

/** A directory path with no trailing slash ('' for `/`), from config text. */
function dirBase(p: string): string {
  const r = resolvePath(p);
  return r === '/' ? '' : r;
}

/** Drop repeated `/` (a junction like `alias /w/` + `/x`); returns a new Buffer. */
function collapseSlashes(src: Buffer): Buffer {
  const out = Buffer.allocUnsafe(src.length);
  let w = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === SLASH && w > 0 && out[w - 1] === SLASH) continue;
    out[w++] = c;
  }
  return out.subarray(0, w);
}

/** True when `p` has a `.` or `..` segment, or a control byte. */
function hasUnsafeByteOrDotSegment(p: Buffer): boolean {
  let segStart = 0;
  for (let i = 0; i <= p.length; i++) {
    const c = i === p.length ? SLASH : p[i]!;
    if (c < 0x20 || c === 0x7f) return true;
    if (c === SLASH) {
      const len = i - segStart;
      if ((len === 1 || len === 2) && p[segStart] === 0x2e && (len === 1 || p[segStart + 1] === 0x2e)) {
        return true;
      }
      segStart = i + 1;
    }
  }
  return false;
}

/** `p` is `dir` or below it (`dir` without a trailing slash; '' is `/`). */
function isUnder(p: Buffer, dir: Buffer): boolean {
  if (dir.length === 0) return p.length > 0 && p[0] === SLASH;
  if (p.length < dir.length || p.compare(dir, 0, dir.length, 0, dir.length) !== 0) return false;
  return p.length === dir.length || p[dir.length] === SLASH;
}

/** `p` without one trailing `/` (`/` stays `/`). */
function stripTrailingSlash(p: Buffer): Buffer {
  return p.length > 1 && p[p.length - 1] === SLASH ? p.subarray(0, p.length - 1) : p;
}

function errnoLookup(err: unknown): Lookup {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ENAMETOOLONG':
      return { kind: 'not-found', reason: code };
    case 'EACCES':
    case 'EPERM':
    case 'ELOOP':
      return { kind: 'forbidden', reason: code };
    default:
      return { kind: 'error', reason: code ?? 'unknown', error: err };
  }
}

const FORBIDDEN_UNSAFE: Lookup = { kind: 'forbidden', reason: 'unsafe path' };
const FORBIDDEN_SYMLINK: Lookup = { kind: 'forbidden', reason: 'symlink not allowed' };

/**
 * One document root (a location's `root` or `alias`), compiled once: config paths resolved,
 * Buffers prepared. `lookup` is the per-request call; `verifyOpened` re-checks a descriptor.
 */
export class StaticRoot {
  readonly mapping: DocumentMapping;
  readonly symlinks: SymlinkPolicy;
  /** The directory every result must stay in, no trailing slash ('' for `/`). */
  readonly boundary: Buffer;
  private readonly base: Buffer;
  private readonly prefix: string;

  constructor(mapping: DocumentMapping, options: StaticRootOptions = {}) {
    this.mapping = mapping;
    this.symlinks = options.symlinks ?? 'inside-root';
    if (mapping.kind === 'root') {
      this.base = Buffer.from(dirBase(mapping.root), 'utf8');
      this.boundary = this.base;
      this.prefix = '';
    } else if (mapping.kind === 'alias') {
      // A trailing slash on alias is meaningful (nginx copies alias + the rest of the uri).
      const b = dirBase(mapping.alias);
      this.base = Buffer.from(mapping.alias.endsWith('/') ? `${b}/` : b, 'utf8');
      this.boundary = Buffer.from(b, 'utf8');
      this.prefix = mapping.prefix;
    } else {
      this.base = typeof mapping.alias === 'string' ? Buffer.from(mapping.alias, 'utf8') : mapping.alias;
      this.boundary = Buffer.from(dirBase(mapping.boundary), 'utf8');
      this.prefix = mapping.uri;
    }
  }

  /**
   * The file path for `uri`, or undefined when the uri is unsafe or maps outside the root.
   * Pure: no file system access. A trailing `/` of the uri is kept (so a file is not found
   * through `file.txt/`, as open() gives ENOTDIR to nginx).
   */
  pathFor(uri: string): Buffer | undefined {
    if (uri.length === 0 || uri.charCodeAt(0) !== SLASH) return undefined;
    let rest = uri;
    if (this.mapping.kind !== 'root') {
      // nginx (try_files) strips the location prefix only where the name starts with it.
      if (uri.startsWith(this.prefix)) rest = uri.slice(this.prefix.length);
      else if (this.mapping.kind === 'alias-exact') return undefined;
    }
    for (let i = 0; i < rest.length; i++) if (rest.charCodeAt(i) > 0xff) return undefined;
    if (ENCODED_LEFTOVER.test(rest)) return undefined;
    if (process.platform === 'win32' && rest.includes('\\')) return undefined;
    const joined = collapseSlashes(Buffer.concat([this.base, Buffer.from(rest, 'latin1')]));
    if (hasUnsafeByteOrDotSegment(joined)) return undefined;
    if (!isUnder(joined, this.boundary)) return undefined;
    return joined;
  }

  /** What is at `uri`: a regular file, a directory, or why neither (nginx's status for it). */
  async lookup(uri: string): Promise<Lookup> {
    const path = this.pathFor(uri);
    if (path === undefined) return FORBIDDEN_UNSAFE;
    return this.lookupPath(path);
  }

  /** `lookup` for a path from `pathFor` (or any path under `boundary`). */
  async lookupPath(path: Buffer): Promise<Lookup> {
    if (!isUnder(path, this.boundary) || hasUnsafeByteOrDotSegment(path)) return FORBIDDEN_UNSAFE;
    let st: Stats;
    try {
      if (this.symlinks === 'inside-root' || this.symlinks === 'never') {
        // realpath first: a link out of the root is refused whether or not its target exists,
        // so the answer tells nothing about files outside.
        const real = await realpath(path, { encoding: 'buffer' });
        if (!(await this.realPathAllowed(real, path))) return FORBIDDEN_SYMLINK;
        st = await stat(real);
      } else {
        if (this.symlinks === 'owner-match' && !(await this.ownersMatch(path))) return FORBIDDEN_SYMLINK;
        st = await stat(path);
      }
    } catch (err) {
      return errnoLookup(err);
    }
    // The trailing slash is checked by the kernel only for lookups through it; realpath drops it.
    if (st.isDirectory()) return { kind: 'directory', path, stat: st };
    if (path[path.length - 1] === SLASH) return { kind: 'not-found', reason: 'ENOTDIR' };
    if (st.isFile()) return { kind: 'file', path, stat: st };
    // FIFOs, sockets, devices: nginx logs "is not a regular file" and answers 404.
    return { kind: 'not-found', reason: 'not a regular file' };
  }

  /**
   * After open(): on Linux, the descriptor's own path (/proc/self/fd/N) must still satisfy the
   * policy, which closes the window between `lookup` and the open. Elsewhere, and for `always`
   * and `owner-match`, this is a no-op that returns true.
   */
  async verifyOpened(fd: number, path: Buffer): Promise<boolean> {
    if (this.symlinks !== 'inside-root' && this.symlinks !== 'never') return true;
    if (process.platform !== 'linux') return true;
    let real: Buffer;
    try {
      real = await readlink(`/proc/self/fd/${fd}`, { encoding: 'buffer' });
    } catch {
      return true; // no /proc mounted: the realpath check before the open stands alone
    }
    if (real[0] !== SLASH) return false; // "pipe:[..]", "anon_inode:..": never a file of ours
    try {
      return await this.realPathAllowed(real, path);
    } catch {
      return false;
    }
  }

  private async realPathAllowed(real: Buffer, path: Buffer): Promise<boolean> {
    const realRoot =
      this.boundary.length === 0 ? this.boundary : await realpath(this.boundary, { encoding: 'buffer' });
    const root = stripTrailingSlash(realRoot);
    const rootDir = root.length === 1 ? Buffer.alloc(0) : root;
    if (this.symlinks === 'inside-root') return isUnder(real, rootDir);
    // never: the real path is the lexical one, with the root's own real path in front.
    const expected = Buffer.concat([rootDir, stripTrailingSlash(path).subarray(this.boundary.length)]);
    return real.equals(expected.length === 0 ? Buffer.from('/') : expected);
  }

  /** nginx if_not_owner, for the components below the root. */
  private async ownersMatch(path: Buffer): Promise<boolean> {
    const p = stripTrailingSlash(path);
    for (let i = this.boundary.length + 1; i <= p.length; i++) {
      if (i !== p.length && p[i] !== SLASH) continue;
      const component = p.subarray(0, i);
      const link = await lstat(component);
      if (link.isSymbolicLink() && (await stat(component)).uid !== link.uid) return false;
    }
    return true;
  }
}

/**
 * For X-Sendfile-like paths (a filesystem path from a trusted backend): the root among `roots`
 * (all of kind `root`) that holds `filePath`, and the uri of the file under it, or undefined.
 * `filePath` is a latin1 string of raw bytes, as header values are in node:http.
 */
export function confineFilePath(
  filePath: string,
  roots: readonly StaticRoot[],
): { readonly root: StaticRoot; readonly uri: string } | undefined {
  const bytes = Buffer.from(filePath, 'latin1');
  for (const root of roots) {
    if (root.mapping.kind !== 'root') continue;
    if (root.boundary.length > 0 && !isUnder(bytes, root.boundary)) continue;
    const uri = bytes.subarray(root.boundary.length).toString('latin1');
    if (uri.length > 0 && root.pathFor(uri) !== undefined) return { root, uri };
  }
  return undefined;
}
