/**
 * The configuration schema: the single source of truth. The TypeScript types are inferred
 * from it, validation runs it, and `portico schema` exports it as JSON Schema. Names follow
 * nginx's directives without their `scgi_`/`fastcgi_` prefix (semantics.md C.2, C.3) and
 * httpd's ProxyPass worker parameters (C.5 - C.7). Unknown keys are errors everywhere.
 *
 * The parsed config is plain data: sizes in bytes, durations in milliseconds, flags as
 * booleans, defaults filled in, relative paths resolved against the config file's
 * directory (like nginx's prefix), params as an ordered list.
 */
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { parseSize } from '../util/sizes.ts';
import {
  BACKEND_PROTOCOLS,
  bindAddress,
  fastcgiSchema,
  PARAM_SETS,
  scgiSchema,
  setEnvIfList,
} from './backend-schema.ts';
import { parseBalancerUrl } from '../pool/address.ts';
import { parseBackendUrl, parseListenAddress, parsePass, UPSTREAM_NAME_PATTERN } from './address.ts';
import { DEFAULTS } from './defaults.ts';
import { describeValue, duration, flag, isRecord, keyIssue, regex, size, strict } from './fields.ts';
import {
  captureGroupCount,
  compileConfigRegex,
  locationIdentity,
  maxCaptureReference,
  parseLocationMatch,
} from './match.ts';
import {
  defaultType,
  indexList,
  mimeTypes,
  phpFastcgiBlock,
  phpPreset,
  returnDirective,
  symlinkPolicy,
  tryFilesList,
} from './static-schema.ts';
import { errorPages, onOffOrHeader, sendfileRoots } from './response-schema.ts';
import { upstreamSchema } from './upstream-schema.ts';
import { regexAliasProblem } from '../static/regex-alias-check.ts';
import { checkTemplate } from '../cgi/variables.ts';

export const LOG_LEVELS = ['debug', 'info', 'notice', 'warn', 'error'] as const;
export const ACCESS_LOG_FORMATS = ['combined', 'upstream'] as const;
export const FCGI_BACKEND_TYPES = ['FPM', 'GENERIC'] as const;
export { BACKEND_PROTOCOLS, PARAM_SETS };

/** What parsing needs to know about where the config came from. */
export interface SchemaContext {
  /** Relative paths (root, alias, temp and log files) resolve against this directory. */
  readonly baseDir: string;
}

/** nginx resolves relative paths against its prefix; we use the config's directory. A trailing `/` (alias) is kept. */
function resolvePath(baseDir: string, path: string): string {
  if (isAbsolute(path)) return path;
  const out = resolve(baseDir, path);
  return path.endsWith('/') && !out.endsWith('/') ? `${out}/` : out;
}

function locationSchema(ctx: SchemaContext) {
  const path = z
    .string()
    .min(1)
    .transform((p) => resolvePath(ctx.baseDir, p));
  return strict({
    match: z
      .string()
      .superRefine((text, c) => {
        const m = parseLocationMatch(text);
        if (!m.ok) c.addIssue({ code: 'custom', message: m.message });
      })
      .meta({
        description: 'nginx location: "/prefix", "= /exact", "^~ /prefix", "~ regex", "~* regex", "@name"',
      }),
    root: path.optional(),
    alias: path.optional(),
    internal: flag().prefault(DEFAULTS.location.internal),
    index: indexList(),
    try_files: tryFilesList(),
    symlinks: symlinkPolicy(),
    default_type: defaultType().optional(),
    types: mimeTypes(),
    return: returnDirective(),
    error_page: errorPages(),
    limit_rate: size()
      .optional()
      .meta({ description: 'nginx limit_rate: bytes per second to the client (0: none)' }),
    limit_rate_after: size()
      .optional()
      .meta({ description: 'nginx limit_rate_after: bytes sent at full speed first' }),
    php: phpPreset(path).optional(),
    scgi: scgiSchema.optional(),
    fastcgi: fastcgiSchema.optional(),
  })
    .superRefine(
      (loc, c) => {
        if (loc.php !== undefined) {
          for (const key of ['scgi', 'fastcgi', 'try_files', 'alias', 'return'] as const) {
            if (loc[key] !== undefined)
              c.addIssue(keyIssue([key], `${key} cannot go with php (the preset sets it up)`));
          }
          if (loc.php.root !== undefined && loc.root !== undefined)
            c.addIssue(keyIssue(['php', 'root'], 'root is given twice: here and as the location root'));
        }
        if (loc.return !== undefined && (loc.scgi !== undefined || loc.fastcgi !== undefined)) {
          c.addIssue(keyIssue(['return'], 'return answers by itself: no scgi or fastcgi with it'));
        }
        const servesFiles =
          (loc.scgi === undefined && loc.fastcgi === undefined) || loc.try_files !== undefined;
        if (loc.alias !== undefined && typeof loc.match === 'string' && /^~/.test(loc.match)) {
          // The captures make the path (nginx); serving files, it must start with a directory.
          const message =
            regexAliasProblem(loc.alias, servesFiles) ?? checkTemplate(loc.alias).problems[0]?.message;
          if (message !== undefined) c.addIssue(keyIssue(['alias'], message));
        }
        if (loc.root !== undefined && loc.alias !== undefined) {
          c.addIssue(
            keyIssue(['alias'], 'alias and root cannot both be set (nginx: "root" directive is duplicate)'),
          );
        }
        if (loc.scgi !== undefined && loc.fastcgi !== undefined) {
          c.addIssue(keyIssue(['fastcgi'], 'a location has at most one of scgi and fastcgi'));
        }
      },
      { when: () => true },
    )
    .transform((loc, c) => {
      if (loc.php === undefined) return loc;
      // The preset is ordinary settings underneath: a fastcgi block `portico check` shows.
      const fastcgi = fastcgiSchema.safeParse(phpFastcgiBlock(loc.php));
      if (!fastcgi.success) {
        for (const issue of fastcgi.error.issues) {
          c.addIssue({ code: 'custom', path: ['php', ...issue.path.map(String)], message: issue.message });
        }
        return z.NEVER;
      }
      return {
        ...loc,
        root: loc.php.root ?? loc.root,
        fastcgi: fastcgi.data,
        index: loc.index ?? [loc.php.index],
      };
    });
}

/**
 * httpd iobuffersize / ProxyIOBufferSize: at least 512 (httpd refuses less; 0 means the
 * default, 8192); at most 1m, a bound on the bytes a response may gather.
 */
function ioBufferSize() {
  return size()
    .transform((bytes, ctx) => {
      if (bytes === 0) return DEFAULTS.proxy_pass.iobuffersize;
      if (bytes < 512 || bytes > 1024 * 1024) {
        ctx.issues.push({
          code: 'custom',
          input: bytes,
          message: `iobuffersize must be 512 to 1m bytes (httpd: at least 512; 0: 8192), got ${bytes}`,
        });
        return z.NEVER;
      }
      return bytes;
    })
    .meta({ description: 'httpd iobuffersize: 512..1m bytes (0: 8192)' });
}

function proxyPassSchema() {
  const d = DEFAULTS.proxy_pass;
  return strict({
    path: z
      .string()
      .regex(/^\//, { error: (i) => `ProxyPass path ${describeValue(i.input)} must start with "/"` })
      .optional(),
    match: regex({ pcre: true }).optional().meta({ description: 'ProxyPassMatch regex; $1.. usable in url' }),
    url: z
      .string()
      .superRefine((text, c) => {
        if (parseBalancerUrl(text) !== undefined) return;
        const url = parseBackendUrl(text);
        if (!url.ok) c.addIssue({ code: 'custom', message: url.message });
      })
      .meta({
        description: 'scgi://host:port/path, fcgi://host:port/path, unix:/path.sock|fcgi://localhost/path',
      }),
    pathinfo: z.string().optional().meta({
      description: 'proxy-scgi-pathinfo / proxy-fcgi-pathinfo (first-dot, last-dot, full, unescape, ...)',
    }),
    backend_type: z
      .enum(FCGI_BACKEND_TYPES)
      .optional()
      .meta({ description: 'ProxyFCGIBackendType (FastCGI only)' }),
    set_env_if: setEnvIfList(),
    internal_redirect: onOffOrHeader(
      'Location',
      true,
      'ProxySCGIInternalRedirect / the FastCGI equivalent: follow a local Location on a 200 (default on)',
    ),
    sendfile: onOffOrHeader('X-Sendfile', false, 'ProxySCGISendfile: serve the file the header names'),
    sendfile_roots: sendfileRoots(),
    flushpackets: z.enum(['on', 'off', 'auto']).prefault(d.flushpackets).meta({
      description:
        'worker flushpackets: on, every backend read to the client at once (Portico default; httpd: off); off, gathered up to iobuffersize or the end; auto, gathered until flushwait passes without backend data',
    }),
    flushwait: duration()
      .prefault(d.flushwait)
      .refine((ms) => ms <= 1000, { error: 'flushwait is at most 1000 ms (httpd)' })
      .transform((ms) => (ms === 0 ? 10 : ms))
      .meta({ description: 'worker flushwait: the quiet time before flushpackets=auto writes (0: 10ms)' }),
    iobuffersize: ioBufferSize().optional().meta({
      description:
        'worker iobuffersize: FastCGI STDIN record size and the flushpackets=off gathering size (default: proxy_iobuffersize, 8192; at least 512)',
    }),
    error_override: flag()
      .prefault(false)
      .meta({ description: 'ProxyErrorOverride: error_page applies to backend error statuses' }),
    enablereuse: flag()
      .optional()
      .meta({ description: 'worker enablereuse: FastCGI connection reuse (FCGI_KEEP_CONN); default off' }),
    disablereuse: flag().optional().meta({ description: 'worker disablereuse: the inverse of enablereuse' }),
    max: z.int().min(0).prefault(0).meta({
      description: 'worker max: requests in flight on the backend (0: no limit); more wait (acquire)',
    }),
    acquire: duration()
      .prefault(d.acquire)
      .meta({ description: 'worker acquire: the longest wait below max, then 503 (write a unit: 500ms)' }),
    smax: z
      .int()
      .min(0)
      .optional()
      .meta({ description: 'worker smax: idle kept connections (default: max, else 32)' }),
    ttl: duration().prefault(d.ttl).meta({ description: 'worker ttl: idle kept connection lifetime' }),
    keepalive: flag().prefault(false).meta({ description: 'worker keepalive: SO_KEEPALIVE' }),
    addressttl: duration()
      .optional()
      .meta({ description: 'worker addressttl: look a host name up again after this long (default: never)' }),
    retry: duration()
      .prefault(d.retry)
      .meta({ description: 'worker retry: how long a worker whose connect failed stays in error (503)' }),
    bind: bindAddress().meta({
      description: 'ProxySourceAddress: source IP of backend connections',
    }),
    timeout: duration().prefault(d.timeout),
    connectiontimeout: duration()
      .optional()
      .meta({ description: 'worker connectiontimeout (default: timeout)' }),
  })
    .superRefine(
      (entry, c) => {
        if ((entry.path === undefined) === (entry.match === undefined)) {
          c.addIssue({
            code: 'custom',
            message: 'needs exactly one of path (ProxyPass) and match (ProxyPassMatch)',
          });
        }
        if (entry.enablereuse !== undefined && entry.enablereuse === entry.disablereuse) {
          c.addIssue(
            keyIssue(['disablereuse'], 'enablereuse and disablereuse say opposite things; set one of them'),
          );
        }
        if (typeof entry.url !== 'string') return;
        const balancer = parseBalancerUrl(entry.url);
        const url = balancer === undefined ? parseBackendUrl(entry.url) : undefined;
        if (url !== undefined && !url.ok) return;
        const urlPath = balancer?.urlPath ?? (url?.ok ? url.value.urlPath : '');
        const refs = maxCaptureReference(urlPath);
        if (refs > 0 && typeof entry.match !== 'string') {
          c.addIssue({
            code: 'custom',
            path: ['url'],
            message: `$${refs} in url needs match (ProxyPassMatch)`,
          });
        } else if (refs > 0) {
          const re = compileConfigRegex(entry.match as string);
          const have = re.ok ? captureGroupCount(re.value) : refs;
          if (refs > have) {
            c.addIssue({
              code: 'custom',
              path: ['url'],
              message: `url uses $${refs} but match has ${have} capture groups`,
            });
          }
        }
        // A balancer's protocol is its group's: crossChecks looks at it.
        if (entry.backend_type !== undefined && url?.ok && url.value.protocol !== 'fastcgi') {
          c.addIssue(keyIssue(['backend_type'], 'backend_type applies to fcgi:// URLs only'));
        }
      },
      { when: () => true },
    )
    .transform((entry) => ({
      ...entry,
      backend_type: entry.backend_type ?? d.backend_type,
      enablereuse:
        entry.enablereuse ?? (entry.disablereuse === undefined ? d.enablereuse : !entry.disablereuse),
      connectiontimeout: entry.connectiontimeout ?? entry.timeout,
    }));
}

const LARGE_BUFFERS_RE = /^([0-9]+) +([0-9]+[kKmMgG]?)$/;

function largeHeaderBuffers() {
  return z
    .string()
    .regex(LARGE_BUFFERS_RE, {
      error: (i) => `expected "number size" (e.g. "4 8k"), got ${describeValue(i.input)}`,
    })
    .transform((text, c) => {
      const m = LARGE_BUFFERS_RE.exec(text)!;
      const number = Number(m[1]);
      const bytes = parseSize(m[2]!);
      if (number < 1 || bytes === undefined || bytes < 1) {
        c.issues.push({ code: 'custom', input: text, message: 'number and size must both be at least 1' });
        return z.NEVER;
      }
      return { number, size: bytes };
    })
    .meta({
      description: 'nginx large_client_header_buffers "number size": the request head may use number * size',
    });
}

function logPath(ctx: SchemaContext, specials: readonly string[]) {
  return z
    .string()
    .min(1)
    .transform((p) => (specials.includes(p) ? p : resolvePath(ctx.baseDir, p)));
}

/** Checks that span the whole config: upstream references, duplicate listen and location entries. */
function crossChecks(config: Record<string, unknown>, ctx: z.core.$RefinementCtx<unknown>): void {
  const upstreams = isRecord(config.upstreams) ? config.upstreams : {};
  balancerChecks(config, upstreams, ctx);
  const names = Object.keys(upstreams);
  const locations = Array.isArray(config.locations) ? config.locations : [];
  const seen = new Map<string, number>();
  locations.forEach((loc: unknown, i) => {
    if (!isRecord(loc)) return;
    if (typeof loc.match === 'string') {
      const m = parseLocationMatch(loc.match);
      const id = m.ok ? locationIdentity(m.value) : undefined;
      if (id !== undefined) {
        const first = seen.get(id);
        if (first === undefined) seen.set(id, i);
        else
          ctx.addIssue({
            code: 'custom',
            path: ['locations', i, 'match'],
            message: `duplicate location (same as locations[${first}])`,
          });
      }
    }
    for (const key of [...BACKEND_PROTOCOLS, 'php'] as const) {
      const protocol = key === 'php' ? 'fastcgi' : key;
      const block = loc[key];
      if (!isRecord(block) || typeof block.pass !== 'string') continue;
      const target = parsePass(block.pass);
      if (!target.ok || target.value.kind !== 'upstream') continue;
      const name = target.value.name;
      const upstream = upstreams[name];
      const path = ['locations', i, key, 'pass'];
      if (upstream === undefined) {
        const known = names.length === 0 ? 'no upstreams are defined' : `defined: ${names.join(', ')}`;
        ctx.addIssue({ code: 'custom', path, message: `unknown upstream "${name}" (${known})` });
      } else if (
        isRecord(upstream) &&
        typeof upstream.protocol === 'string' &&
        upstream.protocol !== protocol
      ) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `upstream "${name}" speaks ${upstream.protocol}, not ${protocol}`,
        });
      }
    }
  });
}

/** `balancer://NAME` on proxy_pass: the group exists; backend_type only with a FastCGI group. */
function balancerChecks(
  config: Record<string, unknown>,
  upstreams: Record<string, unknown>,
  ctx: z.core.$RefinementCtx<unknown>,
): void {
  const names = Object.keys(upstreams);
  const rules = Array.isArray(config.proxy_pass) ? config.proxy_pass : [];
  rules.forEach((rule: unknown, i) => {
    if (!isRecord(rule) || typeof rule.url !== 'string') return;
    const balancer = parseBalancerUrl(rule.url);
    if (balancer === undefined) return;
    const upstream = upstreams[balancer.name];
    if (upstream === undefined) {
      const known = names.length === 0 ? 'no upstreams are defined' : `defined: ${names.join(', ')}`;
      ctx.addIssue({
        code: 'custom',
        path: ['proxy_pass', i, 'url'],
        message: `unknown balancer "${balancer.name}" (${known})`,
      });
    } else if (rule.backend_type !== undefined && isRecord(upstream) && upstream.protocol !== 'fastcgi') {
      ctx.addIssue(
        keyIssue(['proxy_pass', i, 'backend_type'], 'backend_type applies to FastCGI groups only'),
      );
    }
  });
}

export function createConfigSchema(ctx: SchemaContext) {
  const listenEntry = z
    .union([z.number(), z.string()], {
      error: (i) => `expected a port or an address, got ${describeValue(i.input)}`,
    })
    .superRefine((value, c) => {
      const a = parseListenAddress(value);
      if (!a.ok) c.addIssue({ code: 'custom', message: a.message });
    });
  return strict({
    listen: z
      .array(listenEntry)
      .min(1)
      .superRefine((entries, c) => {
        const seen = new Map<string, number>();
        entries.forEach((entry, i) => {
          const a = parseListenAddress(entry);
          if (!a.ok) return;
          const key = JSON.stringify(a.value);
          const first = seen.get(key);
          if (first === undefined) seen.set(key, i);
          else
            c.addIssue({
              code: 'custom',
              path: [i],
              message: `duplicate listen address (same as listen[${first}])`,
            });
        });
      })
      .prefault([...DEFAULTS.listen])
      .meta({ description: 'nginx listen: 8080, "127.0.0.1:8080", "[::1]:8080", "unix:/run/portico.sock"' }),
    server_name: z
      .union([z.string(), z.array(z.string()).min(1)], {
        error: (i) => `expected a name or a list of names, got ${describeValue(i.input)}`,
      })
      .prefault(DEFAULTS.server_name)
      .transform((v) => (typeof v === 'string' ? [v] : v))
      .meta({ description: 'nginx server_name; the first is $server_name' }),
    root: z
      .string()
      .min(1)
      .prefault(DEFAULTS.root)
      .transform((p) => resolvePath(ctx.baseDir, p))
      .meta({
        description: 'nginx root for locations without their own (default: html beside the config file)',
      }),
    error_page: errorPages(),
    limit_rate: size().prefault('0').meta({ description: 'nginx limit_rate for every location (0: none)' }),
    limit_rate_after: size().prefault('0').meta({ description: 'nginx limit_rate_after for every location' }),
    default_type: defaultType().prefault(DEFAULTS.default_type),
    types: mimeTypes(),
    client_max_body_size: size().prefault(DEFAULTS.client_max_body_size),
    client_body_buffer_size: size({ min: 1 }).prefault(DEFAULTS.client_body_buffer_size),
    client_body_temp_path: z
      .string()
      .min(1)
      .optional()
      .transform((p) => (p === undefined ? DEFAULTS.client_body_temp_path() : resolvePath(ctx.baseDir, p)))
      .meta({
        description:
          'directory for request bodies larger than client_body_buffer_size (default: <tmpdir>/portico-body)',
      }),
    client_header_timeout: duration().prefault(DEFAULTS.client_header_timeout),
    client_body_timeout: duration().prefault(DEFAULTS.client_body_timeout),
    send_timeout: duration().prefault(DEFAULTS.send_timeout),
    keepalive_timeout: duration().prefault(DEFAULTS.keepalive_timeout),
    keepalive_requests: z.int().min(0).prefault(DEFAULTS.keepalive_requests),
    large_client_header_buffers: largeHeaderBuffers().prefault(DEFAULTS.large_client_header_buffers),
    shutdown_timeout: duration().prefault(DEFAULTS.shutdown_timeout),
    workers: z
      .union([z.int().min(1).max(256), z.literal('auto')], {
        error: (i) => `expected a number of processes (1..256) or "auto", got ${describeValue(i.input)}`,
      })
      .prefault(DEFAULTS.workers)
      .meta({
        description: 'nginx worker_processes: gateway processes sharing the listeners (auto: one per core)',
      }),
    error_log: strict({
      path: logPath(ctx, ['stderr', 'stdout']).prefault(DEFAULTS.error_log.path),
      level: z.enum(LOG_LEVELS).prefault(DEFAULTS.error_log.level),
    }).prefault({}),
    access_log: strict({
      path: logPath(ctx, ['stderr', 'stdout', 'off']).prefault(DEFAULTS.access_log.path),
      format: z.enum(ACCESS_LOG_FORMATS).prefault(DEFAULTS.access_log.format),
    }).prefault({}),
    upstreams: z
      .record(
        z.string().regex(new RegExp(UPSTREAM_NAME_PATTERN), {
          error: (i) => `invalid upstream name ${describeValue(i.input)} (letters, digits, _ . -)`,
        }),
        upstreamSchema,
      )
      .prefault({}),
    locations: z.array(locationSchema(ctx)).prefault([]),
    proxy_iobuffersize: ioBufferSize().prefault(DEFAULTS.proxy_pass.iobuffersize).meta({
      description: 'httpd ProxyIOBufferSize: iobuffersize of every proxy_pass entry without its own',
    }),
    proxy_pass: z
      .array(proxyPassSchema())
      .prefault([])
      .meta({ description: 'httpd ProxyPass / ProxyPassMatch, in order' }),
  }).superRefine((config, c) => crossChecks(config as Record<string, unknown>, c), { when: () => true });
}

export type ConfigSchema = ReturnType<typeof createConfigSchema>;

/** Everything below readonly: the validated config is deeply frozen. */
export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The validated configuration (sizes in bytes, durations in ms). */
export type PorticoConfig = DeepReadonly<z.output<ConfigSchema>>;
/** What a user writes (YAML or the TypeScript API). */
export type PorticoConfigInput = z.input<ConfigSchema>;

export type LocationConfig = PorticoConfig['locations'][number];
export type ScgiConfig = NonNullable<LocationConfig['scgi']>;
export type FastCgiConfig = NonNullable<LocationConfig['fastcgi']>;
export type ParamConfig = ScgiConfig['params'][number];
export type UpstreamConfig = PorticoConfig['upstreams'][string];
export type ProxyPassConfig = PorticoConfig['proxy_pass'][number];
export type ParamSetName = (typeof PARAM_SETS)[number];
export type LogLevelName = (typeof LOG_LEVELS)[number];
