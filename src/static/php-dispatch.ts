/**
 * Where a request to a `php` preset location goes: a PHP script (with its PATH_INFO), a static
 * file, a redirect or an error. Decided against the files on disk, never by pattern alone:
 *
 * - a path is split into script and PATH_INFO only at a file that exists and ends in an
 *   allowed extension: `/index.php/a/b` runs index.php with PATH_INFO `/a/b`, while
 *   `/uploads/x.jpg/y.php` is a 404 (no such file), never x.jpg run as PHP: the
 *   cgi.fix_pathinfo hole of `location ~ \.php$` configs;
 * - a request for a script that does not exist is a 404 and never reaches php-fpm;
 * - nothing here is a regex over the raw URI: the CVE-2019-11043 pattern (a `%0a` that breaks
 *   `fastcgi_split_path_info`) has nothing to break, and control bytes were refused (400)
 *   when the path was decoded;
 * - dotfiles (any segment starting with `.`, except `/.well-known/`) and the `deny` list are
 *   403;
 * - a directory asked for without its slash is redirected (301) when it has an index script;
 *   with the slash, its index script runs;
 * - anything else that is not a file goes to the front controller (`/index.php`), as
 *   `try_files $uri $uri/ /index.php` does.
 */
import type { Stats } from 'node:fs';
import type { StaticRoot } from './resolve.ts';
import { escapePath } from './try-files.ts';

export interface PhpDispatchOptions {
  readonly root: StaticRoot;
  /** The directory index and front controller name, e.g. `index.php`. */
  readonly index: string;
  readonly extensions: readonly string[];
  /** The URI of the front controller; false: 404 for what is not a file. */
  readonly frontController: string | false;
  readonly deny: readonly RegExp[];
  readonly allowDotfiles: boolean;
}

export type PhpDecision =
  /** Run `scriptName` (a URI under the root) with `pathInfo`. */
  | { readonly kind: 'script'; readonly scriptName: string; readonly pathInfo: string }
  /** Serve this file as it is. */
  | { readonly kind: 'file'; readonly uri: string; readonly path: Buffer; readonly stat: Stats }
  | { readonly kind: 'redirect'; readonly location: string }
  | { readonly kind: 'status'; readonly code: 403 | 404 | 500; readonly reason: string };

function hasExtension(segment: string, extensions: readonly string[]): boolean {
  const lower = segment.toLowerCase();
  for (const ext of extensions) {
    if (lower.length > ext.length && lower.endsWith(ext.toLowerCase())) return true;
  }
  return false;
}

/** A segment starting with `.`, other than a leading `/.well-known` (RFC 8615). */
function hasDotfile(uri: string): boolean {
  let at = uri.indexOf('/.');
  while (at !== -1) {
    if (!(at === 0 && (uri.startsWith('/.well-known/') || uri === '/.well-known'))) return true;
    at = uri.indexOf('/.', at + 1);
  }
  return false;
}

export async function dispatchPhp(uri: string, args: string, o: PhpDispatchOptions): Promise<PhpDecision> {
  if (!o.allowDotfiles && hasDotfile(uri)) return { kind: 'status', code: 403, reason: 'dotfile' };
  for (const re of o.deny)
    if (re.test(uri)) return { kind: 'status', code: 403, reason: `denied by ${re.source}` };

  // The first segment with a script extension decides: that file runs, or nothing does.
  let at = 1;
  while (at <= uri.length) {
    let end = uri.indexOf('/', at);
    if (end === -1) end = uri.length;
    if (end > at && hasExtension(uri.slice(at, end), o.extensions)) {
      const scriptName = uri.slice(0, end);
      const found = await o.root.lookup(scriptName);
      if (found.kind === 'file') return { kind: 'script', scriptName, pathInfo: uri.slice(end) };
      if (found.kind === 'forbidden') return { kind: 'status', code: 403, reason: found.reason };
      if (found.kind === 'error') return { kind: 'status', code: 500, reason: found.reason };
      // A directory named like a script is a directory: keep walking.
      if (found.kind !== 'directory') return { kind: 'status', code: 404, reason: `no script ${scriptName}` };
    }
    at = end + 1;
  }

  const found = await o.root.lookup(uri);
  if (found.kind === 'file') return { kind: 'file', uri, path: found.path, stat: found.stat };
  if (found.kind === 'forbidden') return { kind: 'status', code: 403, reason: found.reason };
  if (found.kind === 'error') return { kind: 'status', code: 500, reason: found.reason };
  if (found.kind === 'directory') {
    const dir = uri.endsWith('/') ? uri : `${uri}/`;
    const index = await o.root.lookup(dir + o.index);
    if (index.kind === 'file') {
      if (!uri.endsWith('/')) {
        const location = escapePath(dir);
        return { kind: 'redirect', location: args === '' ? location : `${location}?${args}` };
      }
      return { kind: 'script', scriptName: dir + o.index, pathInfo: '' };
    }
    if (uri.endsWith('/')) {
      const html = await o.root.lookup(`${dir}index.html`);
      if (html.kind === 'file')
        return { kind: 'file', uri: `${dir}index.html`, path: html.path, stat: html.stat };
    }
  }
  return frontController(o);
}

async function frontController(o: PhpDispatchOptions): Promise<PhpDecision> {
  if (o.frontController === false) return { kind: 'status', code: 404, reason: 'no such file' };
  const found = await o.root.lookup(o.frontController);
  if (found.kind === 'file') return { kind: 'script', scriptName: o.frontController, pathInfo: '' };
  return { kind: 'status', code: 404, reason: `front controller ${o.frontController} not found` };
}
