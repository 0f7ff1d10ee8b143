/**
 * The `scgi:` and `fastcgi:` blocks of a location: nginx's `scgi_*` / `fastcgi_*` directives
 * without their prefix (semantics.md C.2, C.3). Part of the schema in schema.ts.
 */
import { compileSetEnvIf } from '../cgi/set-env-if.ts';
import { ignoreHeaders, onOffOrHeader, sendfileRoots } from './response-schema.ts';
import { checkTemplate } from '../cgi/variables.ts';
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { parseSize } from '../util/sizes.ts';
import { parseStoreAccess } from '../buffering/response-store.ts';
import { type BackendProtocol, parsePass } from './address.ts';
import { DEFAULTS } from './defaults.ts';
import {
  describeValue,
  duration,
  flag,
  headerName,
  isRecord,
  keyIssue,
  regex,
  size,
  strict,
} from './fields.ts';

export const PARAM_SETS = ['scgi_params', 'fastcgi_params', 'fastcgi.conf', 'apache', 'none'] as const;
export const BACKEND_PROTOCOLS = ['scgi', 'fastcgi'] as const;

/** Param names: CGI meta-variable names. Digit-only names would lose their order in a JS object. */
const PARAM_NAME_RE = /^[^\0-\x20\x7f=]+$/;

/** A param value is an nginx template: unknown variables and bad `${` are found at load time. */
function templateValue() {
  return z.union([z.string(), z.number().transform(String)]).superRefine((text, ctx) => {
    for (const problem of checkTemplate(text).problems)
      ctx.addIssue({ code: 'custom', message: problem.message });
  });
}

function paramsSchema() {
  const value = templateValue();
  const entry = z.union([value, strict({ value, if_not_empty: flag().prefault(false) })], {
    error: (i) => `expected a string or { value, if_not_empty }, got ${describeValue(i.input)}`,
  });
  return z
    .record(
      z.string().regex(PARAM_NAME_RE, { error: (i) => `invalid param name ${describeValue(i.input)}` }),
      entry,
    )
    .superRefine(
      (params, ctx) => {
        if (!isRecord(params)) return;
        for (const name of Object.keys(params)) {
          if (/^[0-9]+$/.test(name)) {
            ctx.addIssue(
              keyIssue(
                [name],
                `param name ${JSON.stringify(name)} is only digits; its order could not be kept`,
              ),
            );
          }
        }
      },
      { when: () => true },
    )
    .transform((params) =>
      Object.entries(params).map(([name, v]) =>
        typeof v === 'string'
          ? { name, value: v, if_not_empty: false }
          : { name, value: v.value, if_not_empty: v.if_not_empty },
      ),
    )
    .meta({ description: 'scgi_param / fastcgi_param: NAME -> value, or NAME -> { value, if_not_empty }' });
}

/** nginx `*_next_upstream` values; http_502 / http_504 are Portico's (nginx has them for proxy_pass only). */
export const NEXT_UPSTREAM_VALUES = [
  'error',
  'timeout',
  'invalid_header',
  'http_500',
  'http_502',
  'http_503',
  'http_504',
  'http_403',
  'http_404',
  'http_429',
  'non_idempotent',
  'off',
] as const;

export type NextUpstreamValue = (typeof NEXT_UPSTREAM_VALUES)[number];

/** A list of next_upstream values (or one value); `off` stands alone. */
export function nextUpstream() {
  const value = z.enum(NEXT_UPSTREAM_VALUES);
  return z
    .union(
      [
        z
          .string()
          .pipe(value)
          .transform((v) => [v]),
        z.array(value).min(1),
      ],
      {
        error: (i) => `expected a list of ${NEXT_UPSTREAM_VALUES.join(' | ')}, got ${describeValue(i.input)}`,
      },
    )
    .superRefine((list, c) => {
      if (list.includes('off') && list.length > 1) {
        c.addIssue({ code: 'custom', message: 'off cannot be combined with other values' });
      }
    })
    .meta({
      description:
        'nginx *_next_upstream: when to pass the request to the next server (error, timeout, invalid_header, http_NNN, non_idempotent, off)',
    });
}

/**
 * Apache ProxyFCGISetEnvIf rules, run after the environment is built (cgi/set-env-if.ts):
 * `[{ if: "cond", set: "[!]NAME", value: "..." }]`. Conditions and values are checked here.
 */
export function setEnvIfList() {
  const rule = strict({
    if: z.string().min(1).meta({ description: 'ap_expr condition (Portico subset, docs/configuration.md)' }),
    set: z.string().meta({ description: 'NAME to set, or !NAME to unset' }),
    value: z
      .union([z.string(), z.number().transform(String)])
      .optional()
      .meta({ description: 'string expression with %{...} and $1..; omitted: the empty string' }),
  }).superRefine((spec, ctx) => {
    const compiled = compileSetEnvIf(spec);
    if (!Array.isArray(compiled)) return;
    for (const p of compiled) ctx.addIssue({ code: 'custom', path: [p.key], message: p.message });
  });
  return z.array(rule).default([]).meta({
    description: 'ProxyFCGISetEnvIf: rules that set or unset variables after the environment is built',
  });
}

/**
 * nginx `*_bind address | off` / httpd ProxySourceAddress: the local address new backend
 * connections are made from. An IP literal (a name would need a lookup per connect); `off`
 * (the default) leaves it to the system. `off` becomes undefined.
 */
export function bindAddress() {
  return z
    .string()
    .superRefine((text, ctx) => {
      if (text !== 'off' && isIP(text) === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `bind must be an IP address or off, got ${describeValue(text)}`,
        });
      }
    })
    .optional()
    .transform((text) => (text === undefined || text === 'off' ? undefined : text))
    .meta({
      description: 'source IP address of backend connections (nginx *_bind; off: the system chooses)',
    });
}

/** One memory page: the least `*_buffers` size (nginx's default is one page, 4k on x86). */
const MIN_BUFFER_SIZE = 4096;
/** The most memory one response may hold for a slow client (number x size): past it, the temp file. */
const MAX_BUFFERS_TOTAL = 256 * 1024 * 1024;

/**
 * nginx `*_buffers number size`: memory for a buffered response. nginx needs at least 2
 * buffers ("there must be at least 2 fastcgi_buffers"); a buffer is at least a page; the
 * total is bounded so a typo cannot let one response take gigabytes of memory.
 */
function bufferCount() {
  return z
    .string()
    .regex(/^\s*\d{1,9}\s+\d{1,12}[kKmM]?\s*$/, {
      error: (i) => `expected "number size" (e.g. "8 4k"), got ${describeValue(i.input)}`,
    })
    .transform((text, ctx) => {
      const [n, s] = text.trim().split(/\s+/) as [string, string];
      const number = Number(n);
      const size = parseSize(s) ?? 0;
      let problem: string | undefined;
      if (number < 2) problem = `there must be at least 2 buffers (nginx), got ${number}`;
      else if (size < MIN_BUFFER_SIZE) problem = `a buffer is at least 4k (one memory page), got ${s}`;
      else if (number * size > MAX_BUFFERS_TOTAL)
        problem = `number x size is at most 256m per response, got ${number} x ${s}`;
      if (problem !== undefined) {
        ctx.issues.push({ code: 'custom', input: text, message: problem });
        return z.NEVER;
      }
      return { number, size, total: number * size };
    })
    .meta({
      description: 'nginx *_buffers: number (>= 2) and size (>= 4k) of the memory buffers of a response',
    });
}

/**
 * nginx `*_temp_path path [level1 [level2 [level3]]]`: an absolute directory and up to three
 * levels of hashed subdirectories, each 1 or 2 characters long.
 */
function tempPath() {
  return z
    .string()
    .transform((text, ctx) => {
      const [path = '', ...rest] = text.trim().split(/\s+/);
      let problem: string | undefined;
      if (!isAbsolute(path)) problem = `expected an absolute path, got ${describeValue(path)}`;
      else if (rest.length > 3) problem = `at most 3 levels (nginx), got ${rest.length}`;
      else if (rest.some((l) => l !== '1' && l !== '2'))
        problem = `each level is 1 or 2 (nginx), got ${describeValue(rest.join(' '))}`;
      if (problem !== undefined) {
        ctx.issues.push({ code: 'custom', input: text, message: problem });
        return z.NEVER;
      }
      return { path, levels: rest.map(Number) };
    })
    .meta({
      description:
        'nginx *_temp_path: "dir [level1 [level2 [level3]]]", where buffered responses spill (default: client_body_temp_path)',
    });
}

/**
 * nginx's checks between the buffer sizes (ngx_http_fastcgi_merge_loc_conf), with
 * `unit` = max(buffer_size, one buffer): busy_buffers_size at least `unit` and below the
 * buffers' total minus one buffer; temp_file_write_size at least `unit`; max_temp_file_size 0
 * or at least `unit`.
 */
function checkBufferSizes(
  block: {
    buffer_size: number;
    buffers: { size: number; total: number };
    busy_buffers_size?: number | undefined;
    temp_file_write_size?: number | undefined;
    max_temp_file_size: number;
  },
  ctx: z.RefinementCtx,
): void {
  const unit = Math.max(block.buffer_size, block.buffers.size);
  const busy = block.busy_buffers_size;
  if (busy !== undefined && busy < unit) {
    ctx.addIssue(
      keyIssue(
        ['busy_buffers_size'],
        `must be at least max(buffer_size, one of the buffers) = ${unit} bytes`,
      ),
    );
  } else if (busy !== undefined && busy >= block.buffers.total - block.buffers.size) {
    ctx.addIssue(
      keyIssue(
        ['busy_buffers_size'],
        `must be less than the buffers' total minus one buffer = ${block.buffers.total - block.buffers.size} bytes`,
      ),
    );
  }
  const write = block.temp_file_write_size;
  if (write !== undefined && write < unit) {
    ctx.addIssue(
      keyIssue(
        ['temp_file_write_size'],
        `must be at least max(buffer_size, one of the buffers) = ${unit} bytes`,
      ),
    );
  }
  const max = block.max_temp_file_size;
  if (max !== 0 && max < unit) {
    ctx.addIssue(
      keyIssue(
        ['max_temp_file_size'],
        `must be 0 (no temp file) or at least max(buffer_size, one of the buffers) = ${unit} bytes`,
      ),
    );
  }
}

/** The directives shared by `scgi:` and `fastcgi:` (nginx's names without the prefix). */
function backendShape(protocol: BackendProtocol) {
  const d = DEFAULTS.backend;
  return {
    pass: z
      .string()
      .min(1)
      .superRefine((text, ctx) => {
        const target = parsePass(text);
        if (!target.ok) ctx.addIssue({ code: 'custom', message: target.message });
        else if (target.value.kind === 'address') {
          const other = target.value.address.protocol;
          if (other !== undefined && other !== protocol) {
            const scheme = other === 'scgi' ? 'scgi://' : 'fcgi://';
            ctx.addIssue({ code: 'custom', message: `${scheme} is ${other}; this is the ${protocol} block` });
          }
        }
      })
      .meta({
        description: `${protocol}_pass: host:port, unix:/path, ${protocol === 'scgi' ? 'scgi' : 'fcgi'}://host:port, or an upstream name`,
      }),
    params: paramsSchema().optional(),
    include_params: z
      .enum(PARAM_SETS)
      .optional()
      .meta({
        description: `stock params sent before params (default: ${protocol === 'scgi' ? d.include_params_scgi : d.include_params_fastcgi} without params, none with them)`,
      }),
    bind: bindAddress(),
    socket_keepalive: flag()
      .prefault(false)
      .meta({ description: 'nginx *_socket_keepalive: SO_KEEPALIVE on backend connections' }),
    pass_request_headers: flag().prefault(d.pass_request_headers),
    pass_request_body: flag().prefault(d.pass_request_body),
    request_buffering: flag()
      .prefault(true)
      .meta({ description: 'nginx *_request_buffering: read the whole body before contacting the backend' }),
    ignore_client_abort: flag()
      .prefault(false)
      .meta({ description: 'nginx *_ignore_client_abort: let the backend finish when the client goes away' }),
    buffer_size: size({ min: 1 }).prefault(d.buffer_size),
    force_ranges: flag()
      .prefault(false)
      .meta({ description: 'nginx *_force_ranges: byte ranges on responses without Accept-Ranges' }),
    store: z
      .union([z.boolean(), z.string().min(1)])
      .prefault(false)
      .superRefine((v, c) => {
        if (typeof v !== 'string' || v === 'on' || v === 'off') return;
        for (const p of checkTemplate(v).problems) c.addIssue({ code: 'custom', message: p.message });
      })
      .transform((v): string | undefined =>
        v === true || v === 'on' ? '$document_root$uri' : v === false || v === 'off' ? undefined : v,
      )
      .meta({
        description: 'nginx *_store: save complete 200 responses (on: root + URI; or a path template)',
      }),
    store_access: z
      .string()
      .refine((t) => parseStoreAccess(t) !== undefined, {
        error: (i) => `expected "user:rw group:r all:r" style, got ${describeValue(i.input)}`,
      })
      .prefault('user:rw')
      .transform((t) => parseStoreAccess(t) as number)
      .meta({ description: 'nginx *_store_access: permissions of stored files' }),
    buffering: flag()
      .prefault(true)
      .meta({ description: 'nginx *_buffering: read the response as fast as the backend sends it' }),
    buffers: bufferCount().prefault('8 4k'),
    limit_rate: size().prefault('0').meta({
      description:
        'nginx *_limit_rate: bytes per second read from the backend, buffering on only (0: no limit); the client pace is the location limit_rate',
    }),
    busy_buffers_size: size({ min: 1 }).optional().meta({
      description:
        "nginx *_busy_buffers_size: the most bytes handed to the client's socket and not yet sent; the rest waits in buffers / the temp file (default: Node's high-water mark)",
    }),
    max_temp_file_size: size().prefault('1024m').meta({
      description: 'nginx *_max_temp_file_size: past memory, up to this much in a temp file (0: none)',
    }),
    temp_file_write_size: size({ min: 1 }).optional().meta({
      description:
        'nginx *_temp_file_write_size: bytes gathered before one write to the temp file (default: each backend read as it comes)',
    }),
    temp_path: tempPath().optional(),
    connect_timeout: duration().prefault(d.connect_timeout),
    send_timeout: duration().prefault(d.send_timeout),
    read_timeout: duration().prefault(d.read_timeout),
    set_env_if: setEnvIfList(),
    ignore_headers: ignoreHeaders(),
    internal_redirect: onOffOrHeader(
      'Location',
      false,
      'httpd ProxySCGIInternalRedirect: follow a local Location on a 200 inside Portico (on, off, or a header name)',
    ),
    sendfile: onOffOrHeader(
      'X-Sendfile',
      false,
      'httpd ProxySCGISendfile: serve the file the header names (on, off, or a header name)',
    ),
    sendfile_roots: sendfileRoots(),
    hide_header: z.array(headerName()).default([]),
    pass_header: z.array(headerName()).default([]),
    intercept_errors: flag().prefault(d.intercept_errors),
    next_upstream: nextUpstream().prefault([...d.next_upstream]),
    next_upstream_tries: z
      .int()
      .min(0)
      .prefault(d.next_upstream_tries)
      .meta({ description: 'nginx *_next_upstream_tries: most tries per request (0: the group size)' }),
    next_upstream_timeout: duration()
      .prefault(d.next_upstream_timeout)
      .meta({ description: 'nginx *_next_upstream_timeout: no new try after this long (0: no limit)' }),
  };
}

/** `params` alone replaces the stock set (nginx: own params replace inherited ones); `include_params` + `params` appends. */
function withEffectiveParams<
  T extends { params?: ParamSetting[] | undefined; include_params?: ParamSet | undefined },
>(
  block: T,
  stock: ParamSet,
): Omit<T, 'params' | 'include_params'> & { params: ParamSetting[]; include_params: ParamSet } {
  const include_params =
    block.include_params ??
    (block.params === undefined ? stock : DEFAULTS.backend.include_params_with_params);
  return { ...block, include_params, params: block.params ?? [] };
}

export type ParamSet = (typeof PARAM_SETS)[number];
export interface ParamSetting {
  name: string;
  value: string;
  if_not_empty: boolean;
}

export const scgiSchema = strict(backendShape('scgi'))
  .superRefine(checkBufferSizes)
  .transform((b) => withEffectiveParams(b, DEFAULTS.backend.include_params_scgi));

export const fastcgiSchema = strict({
  ...backendShape('fastcgi'),
  split_path_info: regex({ captures: 2 }).optional().meta({
    description: 'fastcgi_split_path_info: regex with 2 captures -> $fastcgi_script_name, $fastcgi_path_info',
  }),
  index: z.string().prefault(DEFAULTS.backend.index),
  keep_conn: flag().prefault(DEFAULTS.backend.keep_conn),
  catch_stderr: z
    .array(
      z
        .string()
        .min(1)
        .regex(/^[^\r\n]*$/, {
          error: 'catch_stderr strings are matched within one stderr line: no CR or LF',
        }),
    )
    .default([])
    .meta({
      description:
        'fastcgi_catch_stderr: a stderr line containing one of these strings before the response head makes the response invalid (502, next_upstream invalid_header)',
    }),
})
  .superRefine(checkBufferSizes)
  .transform((b) => withEffectiveParams(b, DEFAULTS.backend.include_params_fastcgi));
