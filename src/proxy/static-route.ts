/**
 * The file-serving side of a location, compiled once: its document root, `index`,
 * `try_files`, and what a `php` preset or `return` adds. The handler asks `src/static` what a
 * URI is (tryFiles, dispatchPhp) and serves or redirects by the answer.
 */
import type { ServerResponse } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { MimeTable } from '../static/mime-types.ts';
import type { PhpDispatchOptions } from '../static/php-dispatch.ts';
import type { StaticRoot } from '../static/resolve.ts';
import { serveFile } from '../static/serve.ts';
import type { CompiledTryFiles } from '../static/try-files.ts';
import { ClientRequestError, GatewayError } from '../errors.ts';

/** How a location's files are typed: nginx `types` (over the built-in table) and `default_type`. */
export interface FileTypes {
  readonly types: MimeTable;
  /** nginx default_type. */
  readonly defaultType: string;
}

/** What a try_files / index name's variables are evaluated against. */
export interface ExpandInput {
  readonly req: IncomingMessage;
  /** $uri at the time (try_files evaluates every name against the uri it started with). */
  readonly uri: string;
  readonly args: string;
  readonly method: string;
  readonly captures: readonly string[];
  readonly requestId: string;
}

export interface StaticPart extends FileTypes {
  /** The document root, or for `alias` in a regex location the root of one request. */
  readonly root: StaticRoot | ((input: ExpandInput) => StaticRoot);
  readonly tryFiles: CompiledTryFiles | undefined;
  readonly index: readonly string[];
  /**
   * Evaluates a try_files / index name with nginx variables (`/index.php?$query_string`,
   * `/cache$uri$is_args$args`, `$1`); undefined when every name uses `$uri` at most, which
   * src/static expands by itself.
   */
  readonly expand: ((source: string, input: ExpandInput) => string) | undefined;
}

export interface PhpPart extends PhpDispatchOptions, FileTypes {}

/** nginx `return`. */
export interface ReturnPart {
  readonly code: number;
  readonly url: string | undefined;
}

/**
 * Sends the file at `path` (nginx's static handler); a file that cannot be served becomes the
 * error its status says (404, 403, 405 with Allow, 500).
 */
export async function sendStaticFile(
  req: IncomingMessage,
  res: ServerResponse,
  path: Buffer,
  root: StaticRoot,
  typing: FileTypes,
  status?: number,
): Promise<void> {
  // error_page: the page is sent whole with the error's status (no ranges, no 304).
  const { defaultType, types } = typing;
  const result = await serveFile(req, res, { path }, { root, defaultType, types, status });
  if (result.sent) return;
  if (result.status === 405) res.setHeader('Allow', 'GET, HEAD');
  throw result.status === 500
    ? new GatewayError('ERR_STATIC_READ', `static file: ${result.reason}`, 'gateway', 500, 'none')
    : new ClientRequestError('ERR_STATIC', `static file: ${result.reason}`, result.status);
}
