/**
 * The location keys that serve files and PHP applications: nginx `index`, `try_files`,
 * `disable_symlinks` (as `symlinks`), `return`, and Portico's `php` preset. Part of the
 * location schema in schema.ts.
 */
import { z } from 'zod';
import { checkTemplate } from '../cgi/variables.ts';
import { ConfigError } from '../errors.ts';
import { duplicateExtension } from '../static/mime-types.ts';
import { compileIndex, compileTryFiles } from '../static/try-files.ts';
import { DEFAULTS } from './defaults.ts';
import { describeValue, regex, strict } from './fields.ts';

function problem(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof ConfigError ? (error.issues[0]?.message ?? error.message) : String(error);
  }
}

/** The first problem of the nginx variables in `names` (unknown variable, bad syntax). */
function variableProblem(names: readonly string[]): string | undefined {
  for (const name of names) {
    if (!name.includes('$')) continue;
    const problem = checkTemplate(name).problems[0];
    if (problem !== undefined) return `${JSON.stringify(name)}: ${problem.message}`;
  }
  return undefined;
}

/** nginx `index`: names tried in order for a URI ending in `/`. */
export function indexList() {
  return z
    .array(z.string())
    .superRefine((list, c) => {
      const message = problem(() => compileIndex(list)) ?? variableProblem(list);
      if (message !== undefined) c.addIssue({ code: 'custom', message });
    })
    .optional()
    .meta({ description: 'nginx index: names tried for a URI ending in "/" (default index.html)' });
}

/** nginx `try_files file ... uri | =code | @name`. */
export function tryFilesList() {
  return z
    .array(z.string())
    .superRefine((list, c) => {
      const message = problem(() => compileTryFiles(list)) ?? variableProblem(list);
      if (message !== undefined) c.addIssue({ code: 'custom', message });
    })
    .optional()
    .meta({ description: 'nginx try_files: files ($uri, $uri/) then a URI, @name or =code' });
}

const MEDIA_TYPE_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A media type without parameters: `text/plain`. */
export function mediaType() {
  return z.string().regex(MEDIA_TYPE_RE, {
    error: (i) => `expected a media type like text/plain, got ${describeValue(i.input)}`,
  });
}

/** nginx `default_type`: the Content-Type of files whose extension no table lists. */
export function defaultType() {
  return mediaType().meta({
    description: 'nginx default_type: the Content-Type of static files with an unknown extension',
  });
}

const FILE_EXTENSION_RE = /^[A-Za-z0-9][A-Za-z0-9_+-]*$/;

/**
 * nginx `types { type ext ...; }`: `{ "text/x-php-source": [phps] }`. Added to the built-in
 * table (and a location's to the server's); an extension listed under two types is refused.
 */
export function mimeTypes() {
  return z
    .record(
      z.string().regex(MEDIA_TYPE_RE, {
        error: (i) => `expected a media type like text/plain, got ${describeValue(i.input)}`,
      }),
      z
        .array(
          z.string().regex(FILE_EXTENSION_RE, {
            error: (i) => `expected an extension without its dot, like "html", got ${describeValue(i.input)}`,
          }),
        )
        .min(1),
    )
    .superRefine((types, c) => {
      const dup = duplicateExtension(types);
      if (dup !== undefined)
        c.addIssue({ code: 'custom', message: `extension "${dup}" is listed under two types` });
    })
    .optional()
    .meta({
      description:
        'nginx types: { "media/type": [ext, ...] }, added to the built-in table (nginx replaces it)',
    });
}

export const SYMLINK_POLICIES = ['always', 'inside-root', 'owner-match', 'never'] as const;

/** nginx `disable_symlinks` / httpd `Options FollowSymLinks`: which symlinks a file may go through. */
export function symlinkPolicy() {
  return z.enum(SYMLINK_POLICIES).prefault(DEFAULTS.location.symlinks).meta({
    description:
      'always (nginx disable_symlinks off), inside-root (only links that stay under the root), owner-match (if_not_owner), never (on)',
  });
}

/** nginx `return code [text | url]`: codes 3xx take a URL. */
export function returnDirective() {
  return z
    .union([
      z.int().min(200).max(599),
      strict({ code: z.int().min(200).max(599), url: z.string().min(1).optional() }),
    ])
    .transform((v) => (typeof v === 'number' ? { code: v, url: undefined } : { code: v.code, url: v.url }))
    .superRefine((v, c) => {
      const redirect = v.code >= 301 && v.code <= 308 && v.code !== 304;
      if (redirect && v.url === undefined)
        c.addIssue({ code: 'custom', message: `return ${v.code} needs a url` });
      if (!redirect && v.url !== undefined)
        c.addIssue({ code: 'custom', message: `return ${v.code} takes no url` });
    })
    .optional()
    .meta({ description: 'nginx return: answer with this status (3xx: { code, url }) and do nothing else' });
}

const EXTENSION_RE = /^\.[A-Za-z0-9]+$/;

/**
 * The `php` preset (see docs/php.md): a front-controller PHP application under `root`, behind
 * php-fpm at `pass`, in one block.
 */
export function phpPreset<P extends z.ZodType<string, string>>(path: P) {
  const d = DEFAULTS.php;
  return strict({
    pass: z.string().min(1).meta({ description: 'php-fpm: host:port, unix:/path or an upstream name' }),
    root: path.optional().meta({ description: "the application's document root (or the location's root)" }),
    realpath_root: z.boolean().prefault(false).meta({
      description:
        "SCRIPT_FILENAME and DOCUMENT_ROOT with the root's symlinks resolved per request ($realpath_root), for current -> releases/N deploys",
    }),
    index: z
      .string()
      .regex(/^[^/\0]+$/)
      .prefault(d.index)
      .meta({ description: 'the front controller and directory index' }),
    extensions: z
      .array(
        z.string().regex(EXTENSION_RE, {
          error: (i) => `expected an extension like ".php", got ${describeValue(i.input)}`,
        }),
      )
      .min(1)
      .prefault([...d.extensions])
      .meta({ description: 'files with these extensions are run by PHP; everything else is served as is' }),
    front_controller: z
      .union([z.literal(false), z.string().regex(/^\/[^\0]*$/)])
      .prefault(d.front_controller)
      .meta({ description: 'where requests for missing files go (false: 404)' }),
    deny: z
      .array(regex({ pcre: true }))
      .prefault([])
      .meta({ description: 'regexes on the path refused with 403, besides dotfiles' }),
    allow_dotfiles: z
      .boolean()
      .prefault(false)
      .meta({ description: 'serve dotfiles (/.well-known is always served)' }),
    php_value: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.]+$/),
        z.union([z.string(), z.number(), z.boolean()]).transform(String),
      )
      .prefault({})
      .meta({ description: 'PHP_VALUE: ini settings for this location' }),
    php_admin_value: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.]+$/),
        z.union([z.string(), z.number(), z.boolean()]).transform(String),
      )
      .prefault({})
      .meta({ description: 'PHP_ADMIN_VALUE: ini settings scripts cannot change' }),
    keep_conn: z
      .boolean()
      .prefault(false)
      .meta({ description: 'fastcgi keep_conn for the php-fpm connections' }),
  }).meta({ description: 'a PHP front-controller application (root + php-fpm) in one block' });
}

/** The `php` block as validated. */
export type PhpPresetConfig = z.output<ReturnType<typeof phpPreset<z.ZodType<string, string>>>>;

/** What the preset sends php-fpm: fastcgi.conf, PATH_INFO / PATH_TRANSLATED, PHP_VALUE. */
export function phpFastcgiBlock(php: PhpPresetConfig): Record<string, unknown> {
  const params: Record<string, unknown> = {
    PATH_INFO: { value: '$fastcgi_path_info', if_not_empty: true },
    PATH_TRANSLATED: { value: '$path_translated', if_not_empty: true },
  };
  // nginx's advice for symlinked deploys: PHP (and opcache, keyed on the path) sees the release
  // the link points to now, not a path that silently changes meaning under a cached script.
  if (php.realpath_root) {
    params.SCRIPT_FILENAME = '$realpath_root$fastcgi_script_name';
    params.DOCUMENT_ROOT = '$realpath_root';
  }
  const ini = (values: Record<string, string>) =>
    Object.entries(values)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');
  if (Object.keys(php.php_value).length > 0) params.PHP_VALUE = ini(php.php_value);
  if (Object.keys(php.php_admin_value).length > 0) params.PHP_ADMIN_VALUE = ini(php.php_admin_value);
  return { pass: php.pass, include_params: 'fastcgi.conf', params, keep_conn: php.keep_conn };
}
