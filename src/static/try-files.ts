/**
 * nginx `try_files` and `index`, and what nginx's static module does with the result: one
 * decision per request, computed from a compiled list (config time) and a `StaticRoot`.
 *
 * Semantics (ngx_http_try_files_module.c, ngx_http_index_module.c, ngx_http_static_module.c):
 * - each entry but the last is a template; a trailing `/` means "must be a directory" and is
 *   removed from the name before it is tested (so `$uri/` tests `$uri` as a directory);
 * - an entry matches when it exists and is (not) a directory as asked; open errors other than
 *   "does not exist" are logged by nginx and the entry is skipped all the same;
 * - the first match becomes `$uri` and the location's handler runs on it: for static content,
 *   a uri ending in `/` goes to the index list, a directory without `/` is a 301 to `uri/`,
 *   a file is served;
 * - the last entry is the fallback: `=CODE`, `@name` (named location) or a URI (an internal
 *   redirect; a `?` in it replaces the request's args);
 * - index: names tried in order under the directory; an absolute name (only the last may be)
 *   is an internal redirect without a test; a found name is an internal redirect to uri+name
 *   (so `index.php` reaches the PHP location and is never sent as source); none found -> 403.
 */

import type { Stats } from 'node:fs';
import { ConfigError, type ConfigIssue } from '../errors.ts';
import type { Lookup, StaticRoot } from './resolve.ts';

export type ConfigWhere = Partial<Omit<ConfigIssue, 'message'>>;

export interface TryFilesEntry {
  /** The template with its directory slash removed. */
  readonly source: string;
  /** The entry ended in `/`: only a directory matches. */
  readonly testDir: boolean;
}

export type TryFilesFallback =
  | { readonly kind: 'code'; readonly code: number }
  | { readonly kind: 'named'; readonly name: string }
  | { readonly kind: 'uri'; readonly source: string };

export interface CompiledTryFiles {
  readonly entries: readonly TryFilesEntry[];
  readonly fallback: TryFilesFallback;
}

function configError(message: string, where: ConfigWhere): ConfigError {
  return new ConfigError([
    {
      file: where.file ?? '<config>',
      line: where.line ?? 0,
      column: where.column ?? 0,
      path: where.path ?? '',
      message,
    },
  ]);
}

/** Validate and compile a `try_files` list (nginx needs at least two entries). */
export function compileTryFiles(list: readonly string[], where: ConfigWhere = {}): CompiledTryFiles {
  if (list.length < 2) {
    throw configError('try_files needs at least one file and a fallback (nginx: NGX_CONF_2MORE)', where);
  }
  const entries: TryFilesEntry[] = [];
  for (let i = 0; i < list.length - 1; i++) {
    const s = list[i]!;
    if (s === '') throw configError(`try_files entry ${i} is empty`, where);
    const testDir = s.length > 1 && s.endsWith('/');
    entries.push({ source: testDir ? s.slice(0, -1) : s, testDir });
  }
  const last = list[list.length - 1]!;
  let fallback: TryFilesFallback;
  if (last.startsWith('=')) {
    if (!/^=[1-9]\d\d$/.test(last)) {
      throw configError(`invalid try_files code "${last}" (=100 .. =999)`, where);
    }
    fallback = { kind: 'code', code: Number(last.slice(1)) };
  } else if (last.startsWith('@')) {
    if (last.length === 1) throw configError('try_files fallback "@" names no location', where);
    fallback = { kind: 'named', name: last };
  } else if (last.startsWith('/') || last.startsWith('$')) {
    fallback = { kind: 'uri', source: last };
  } else {
    throw configError(`try_files fallback "${last}" is not a URI, @name or =code`, where);
  }
  return { entries, fallback };
}

/** Validate an `index` list: no empty name, only the last may be absolute (nginx's rules). */
export function compileIndex(list: readonly string[], where: ConfigWhere = {}): readonly string[] {
  if (list.length === 0) throw configError('index needs at least one name', where);
  list.forEach((name, i) => {
    if (name === '') throw configError(`index name ${i} is empty`, where);
    if (name.startsWith('/') && i !== list.length - 1) {
      throw configError(`only the last index may be absolute ("${name}")`, where);
    }
  });
  return Object.freeze([...list]);
}

/** nginx's default `index index.html`. */
export const DEFAULT_INDEX: readonly string[] = Object.freeze(['index.html']);

/**
 * - `file`: serve `path` (`uri` is the new `$uri`);
 * - `pass`: (handler `backend`) try_files matched; run the location's backend with `$uri` = uri;
 * - `redirect-internal`: re-enter location matching with `uri` and `args` (method becomes GET
 *   as for every internal redirect); `named` for an `@name` location;
 * - `status`: answer with this code (error_page applies);
 * - `directory-redirect`: 301 to `location` (relative, already escaped, args appended).
 */
export type StaticDecision =
  | { readonly kind: 'file'; readonly uri: string; readonly path: Buffer; readonly stat: Stats }
  | { readonly kind: 'pass'; readonly uri: string; readonly path: Buffer; readonly stat: Stats }
  | {
      readonly kind: 'redirect-internal';
      readonly uri: string;
      readonly args: string;
      readonly named: boolean;
    }
  | { readonly kind: 'status'; readonly code: number; readonly reason: string }
  | { readonly kind: 'directory-redirect'; readonly location: string };

export interface TryFilesOptions {
  readonly root: StaticRoot;
  /** Compiled `try_files`; undefined: nginx's plain static + index handling of the uri. */
  readonly tryFiles?: CompiledTryFiles | undefined;
  /** Compiled `index` list; default `index.html`. */
  readonly index?: readonly string[] | undefined;
  /** The request's query, without `?`. */
  readonly args?: string | undefined;
  /**
   * Evaluates a template (nginx variables) for this request. Default: `$uri` and `${uri}`
   * become the uri; anything else stays literal. The pipeline passes its variables engine.
   */
  readonly expand?: ((source: string, uri: string) => string) | undefined;
  /** `backend`: the location proxies; a try_files match is returned as `pass`. Default `static`. */
  readonly handler?: 'static' | 'backend' | undefined;
  /**
   * Serve a found index file directly instead of an internal redirect to it. Only for locations
   * that serve static files alone: with a backend location for `.php`, this would send source.
   */
  readonly serveIndex?: boolean | undefined;
}

/** `$uri` / `${uri}` (not `$uri_x`: name chars continue a variable name). */
const URI_VAR = /\$(?:\{uri\}|uri(?![A-Za-z0-9_]))/g;

export function expandUriOnly(source: string, uri: string): string {
  return source.includes('$') ? source.replace(URI_VAR, () => uri) : source;
}

function statusFor(lookup: Lookup): StaticDecision {
  switch (lookup.kind) {
    case 'forbidden':
      return { kind: 'status', code: 403, reason: lookup.reason };
    case 'error':
      return { kind: 'status', code: 500, reason: lookup.reason };
    default:
      return { kind: 'status', code: 404, reason: lookup.kind === 'not-found' ? lookup.reason : 'not found' };
  }
}

/** The static decision for `uri` (a decoded, normalised path) in one location. */
export async function tryFiles(uri: string, options: TryFilesOptions): Promise<StaticDecision> {
  const { root, tryFiles: tf } = options;
  const expand = options.expand ?? expandUriOnly;
  const args = options.args ?? '';
  if (tf === undefined) {
    if (uri.endsWith('/')) return index(uri, undefined, options, expand, args);
    return content(uri, await root.lookup(uri), options, expand, args);
  }
  for (const entry of tf.entries) {
    const name = expand(entry.source, uri);
    if (name === '' || name.charCodeAt(0) !== 0x2f) continue;
    const found = await root.lookup(name);
    if (found.kind !== 'file' && found.kind !== 'directory') continue;
    if ((found.kind === 'directory') !== entry.testDir) continue;
    if (options.handler === 'backend') return { kind: 'pass', uri: name, path: found.path, stat: found.stat };
    return content(name, found, options, expand, args);
  }
  const fb = tf.fallback;
  if (fb.kind === 'code') return { kind: 'status', code: fb.code, reason: 'try_files fallback' };
  if (fb.kind === 'named') return { kind: 'redirect-internal', uri: fb.name, args, named: true };
  const target = expand(fb.source, uri);
  const q = target.indexOf('?');
  if (q === -1) return { kind: 'redirect-internal', uri: target, args, named: false };
  return { kind: 'redirect-internal', uri: target.slice(0, q), args: target.slice(q + 1), named: false };
}

/** The content phase for a static location: index for `/`, 301 for a directory, else the file. */
function content(
  uri: string,
  found: Lookup,
  options: TryFilesOptions,
  expand: (source: string, uri: string) => string,
  args: string,
): Promise<StaticDecision> | StaticDecision {
  if (uri.endsWith('/')) return index(uri, found, options, expand, args);
  if (found.kind === 'file') return { kind: 'file', uri, path: found.path, stat: found.stat };
  if (found.kind === 'directory') {
    const location = `${escapePath(uri)}/`;
    return { kind: 'directory-redirect', location: args === '' ? location : `${location}?${args}` };
  }
  return statusFor(found);
}

async function index(
  uri: string,
  dir: Lookup | undefined,
  options: TryFilesOptions,
  expand: (source: string, uri: string) => string,
  args: string,
): Promise<StaticDecision> {
  const { root } = options;
  dir ??= await root.lookup(uri);
  if (dir.kind !== 'directory')
    return statusFor(dir.kind === 'file' ? { kind: 'not-found', reason: 'ENOTDIR' } : dir);
  for (const source of options.index ?? DEFAULT_INDEX) {
    const name = expand(source, uri);
    if (name.startsWith('/')) return { kind: 'redirect-internal', uri: name, args, named: false };
    if (name === '') continue;
    const target = uri + name;
    const found = await root.lookup(target);
    if (found.kind === 'file' && options.serveIndex === true) {
      return { kind: 'file', uri: target, path: found.path, stat: found.stat };
    }
    if (found.kind === 'file' || found.kind === 'directory') {
      return { kind: 'redirect-internal', uri: target, args, named: false };
    }
    if (found.kind === 'not-found') continue;
    return statusFor(found);
  }
  // nginx: "directory index of ... is forbidden" (no autoindex here).
  return { kind: 'status', code: 403, reason: 'directory index forbidden' };
}

// ngx_escape_uri NGX_ESCAPE_URI: controls, space, " # % < > ? \ ^ ` { | } DEL and bytes >= 0x80.
const ESCAPE = new Uint8Array(256);
for (let c = 0; c < 256; c++)
  ESCAPE[c] = c <= 0x20 || c >= 0x7f || '"#%<>?\\^`{|}'.includes(String.fromCharCode(c)) ? 1 : 0;
const HEX = '0123456789ABCDEF';

/** Percent-encode a decoded (latin1 bytes) path for a Location header. */
export function escapePath(path: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i) & 0xff;
    if (ESCAPE[c] === 1) {
      out += `${path.slice(from, i)}%${HEX[c >> 4]}${HEX[c & 15]}`;
      from = i + 1;
    }
  }
  return from === 0 ? path : out + path.slice(from);
}
