/**
 * `upstreams.NAME`: nginx's `upstream {}` model with httpd's balancer parameters mapped in
 * (semantics.md C.7, C.8; the member model is src/balancer/member.ts). Types and defaults are
 * checked here; what only the balancer knows (duplicate members, backup with a hash method,
 * ranges) comes from `validateUpstreamOptions`, so `portico check` and the runtime refuse
 * exactly the same groups. Part of the schema in schema.ts.
 *
 *   nginx                          httpd                          Portico
 *   upstream NAME { ... }          <Proxy balancer://NAME>        upstreams.NAME
 *   (round robin) / least_conn /   lbmethod=byrequests /          balance
 *   ip_hash / hash / random        bybusyness / bytraffic
 *   hash KEY [consistent]          —                              hash: { key, consistent }
 *   random [two]                   —                              random: { two }
 *   —                              stickysession, nofailover ...  sticky: { ... }
 *   server ADDR weight= ...        BalancerMember URL loadfactor= servers[]
 */
import { z } from 'zod';
import {
  BALANCE_METHODS,
  type ServerOptions,
  type UpstreamOptions,
  validateUpstreamOptions,
} from '../balancer/options.ts';
import { checkTemplate } from '../cgi/variables.ts';
import { parseServerAddress } from './address.ts';
import { BACKEND_PROTOCOLS } from './backend-schema.ts';
import { DEFAULTS } from './defaults.ts';
import type { DeepReadonly } from './schema.ts';
import { describeValue, duration, flag, keyIssue, strict } from './fields.ts';

const d = DEFAULTS.upstream;

/** `consistent: true | false | on | off | ketama | rendezvous` (nginx `hash ... consistent` is ketama). */
function consistency() {
  const message = (input: unknown) =>
    `expected true, false, "ketama" or "rendezvous", got ${describeValue(input)}`;
  return z.union([flag(), z.enum(['ketama', 'rendezvous'])], { error: (i) => message(i.input) });
}

/** httpd stickysessionsep: one character, or `false` / `off` for the whole value. */
function separator() {
  return z
    .union([z.literal(false), z.string()], {
      error: (i) => `expected one character or false, got ${describeValue(i.input)}`,
    })
    .transform((v): string | false => (v === 'off' ? false : v));
}

const serverSchema = strict({
  address: z
    .string()
    .superRefine((text, c) => {
      const a = parseServerAddress(text);
      if (!a.ok) c.addIssue({ code: 'custom', message: a.message });
    })
    .meta({
      description: 'nginx server ADDRESS, httpd BalancerMember URL: host:port, unix:/path, fcgi://...',
    }),
  weight: z.int().prefault(d.weight).meta({ description: 'nginx weight=, httpd loadfactor=' }),
  max_conns: z.int().prefault(d.max_conns).meta({ description: 'nginx max_conns= (0: no limit)' }),
  max_fails: z.int().prefault(d.max_fails).meta({ description: 'nginx max_fails= (0: never failed)' }),
  fail_timeout: duration().prefault(d.fail_timeout),
  retry: duration()
    .optional()
    .meta({ description: 'httpd retry=: how long a failed member stays out (default: fail_timeout)' }),
  backup: flag().prefault(false).meta({ description: 'nginx backup, httpd status=+H' }),
  spare: flag().prefault(false).meta({ description: 'httpd status=+R (hot spare)' }),
  down: flag().prefault(false).meta({ description: 'nginx down, httpd status=+D' }),
  drain: flag().prefault(false).meta({ description: 'nginx drain, httpd status=+N' }),
  route: z.string().prefault('').meta({ description: 'nginx/httpd route= (sticky sessions)' }),
  redirect: z.string().prefault('').meta({ description: 'httpd redirect=' }),
  lbset: z.int().prefault(0).meta({ description: 'httpd lbset= (0..99, lower first)' }),
  resolve: flag()
    .prefault(false)
    .meta({ description: 'nginx server ... resolve: look a host name up again every resolve_interval' }),
}).transform((s) => ({ ...s, retry: s.retry ?? s.fail_timeout }));

const stickySchema = strict({
  cookie: z.string().min(1).optional().meta({ description: 'httpd stickysession NAME (a cookie)' }),
  url_param: z.string().min(1).optional().meta({ description: 'httpd stickysession |URLNAME' }),
  separator: separator().prefault(d.sticky_separator),
  scolonpathdelim: flag().prefault(false),
  nofailover: flag().prefault(false),
}).meta({
  description: 'httpd stickysession: the route a request asks for, from a URL parameter or a cookie',
});

/**
 * nginx Plus `health_check` / httpd mod_proxy_hcheck: probes in the member's own protocol.
 * Defaults are nginx Plus's (interval 5s, fails 1, passes 1, uri /, any 2xx/3xx passes).
 */
const healthCheckSchema = strict({
  type: z.enum(['request', 'get_values', 'tcp']).prefault('request').meta({
    description: 'request (a GET to uri), get_values (FastCGI FCGI_GET_VALUES), tcp (connect only)',
  }),
  uri: z
    .string()
    .regex(/^\/[^\0-\x20\x7f]*$/, {
      error: (i) => `uri must be a path starting with "/", got ${describeValue(i.input)}`,
    })
    .prefault('/')
    .meta({ description: 'the path a request probe asks for (php-fpm: its ping.path)' }),
  params: z
    .record(z.string().regex(/^[^\0-\x20\x7f=]+$/), z.string().regex(/^[^\0]*$/))
    .prefault({})
    .meta({ description: 'extra params of a request probe (e.g. SCRIPT_FILENAME)' }),
  interval: duration().prefault(d.health_interval),
  timeout: duration().prefault(d.health_timeout).meta({ description: 'the longest a probe may take' }),
  fails: z.int().min(1).prefault(1).meta({ description: 'failed probes in a row that take a server out' }),
  passes: z.int().min(1).prefault(1).meta({ description: 'good probes in a row that put it back' }),
  status: z
    .array(z.int().min(100).max(599))
    .prefault([])
    .meta({ description: 'statuses that pass (default: any 2xx or 3xx)' }),
  body: z.string().optional().meta({ description: 'text the body must contain (php-fpm ping: "pong")' }),
}).meta({ description: 'active health checks (nginx Plus health_check, httpd hcmethod/hcinterval/...)' });

const upstreamObject = strict({
  protocol: z.enum(BACKEND_PROTOCOLS),
  balance: z.enum(BALANCE_METHODS).prefault(d.balance),
  hash: strict({
    key: z.string().superRefine((text, c) => {
      for (const problem of checkTemplate(text).problems)
        c.addIssue({ code: 'custom', message: problem.message });
    }),
    consistent: consistency().prefault(d.hash_consistent),
  })
    .optional()
    .meta({ description: 'nginx hash KEY [consistent]: key is a template ($request_uri)' }),
  random: strict({ two: flag().prefault(d.random_two) })
    .optional()
    .meta({ description: 'nginx random [two]' }),
  sticky: stickySchema.optional(),
  forcerecovery: flag()
    .prefault(d.forcerecovery)
    .meta({ description: 'httpd forcerecovery: every member failed -> try them all anyway' }),
  keepalive: z.number().int().min(0).prefault(d.keepalive).meta({
    description: 'nginx upstream keepalive: idle kept connections per member (with fastcgi keep_conn on)',
  }),
  keepalive_timeout: duration()
    .prefault(d.keepalive_timeout)
    .meta({ description: 'nginx upstream keepalive_timeout (httpd ttl)' }),
  keepalive_requests: z.number().int().min(0).prefault(d.keepalive_requests),
  health_check: healthCheckSchema.optional(),
  multiplex: z.enum(['auto', 'on', 'off']).prefault(d.multiplex).meta({
    description:
      'FastCGI multiplexing with keep_conn: auto asks FCGI_MPXS_CONNS with GET_VALUES, on assumes it, off never',
  }),
  resolve_interval: duration()
    .prefault(d.resolve_interval)
    .meta({ description: 'how often servers marked resolve are looked up again (nginx resolver valid=)' }),
  queue: strict({
    size: z
      .number()
      .int()
      .min(0)
      .prefault(d.queue_size)
      .meta({ description: 'most waiting requests (0: none)' }),
    timeout: duration().prefault(d.queue_timeout),
  })
    .prefault({})
    .meta({
      description:
        'nginx Plus queue N timeout=T: requests that find every server at max_conns wait, then get 503',
    }),
  servers: z.array(serverSchema).min(1),
});

type UpstreamShape = z.output<typeof upstreamObject>;

export const upstreamSchema = upstreamObject
  .superRefine((u, c) => checkUpstream(u, c))
  .meta({ description: 'a named group of backends (nginx upstream {}, httpd balancer://)' });

/** The balancer's options for a validated group; addresses in display form, so equal addresses share state. */
export function upstreamOptions(name: string, u: DeepReadonly<UpstreamShape>): UpstreamOptions {
  const servers = u.servers.map((s): ServerOptions => {
    const a = parseServerAddress(s.address);
    return {
      address: a.ok ? a.value.display : s.address,
      weight: s.weight,
      max_conns: s.max_conns,
      max_fails: s.max_fails,
      fail_timeout: s.fail_timeout,
      retry: s.retry,
      backup: s.backup,
      spare: s.spare,
      down: s.down,
      drain: s.drain,
      route: s.route,
      redirect: s.redirect,
      lbset: s.lbset,
    };
  });
  const sticky = u.sticky;
  return {
    name,
    protocol: u.protocol,
    servers,
    balance: u.balance,
    ...(u.hash === undefined ? {} : { hash: { consistent: u.hash.consistent } }),
    ...(u.random === undefined ? {} : { random: { two: u.random.two } }),
    ...(sticky === undefined
      ? {}
      : {
          sticky: {
            ...(sticky.cookie === undefined ? {} : { cookie: sticky.cookie }),
            ...(sticky.url_param === undefined ? {} : { url_param: sticky.url_param }),
            separator: sticky.separator,
            scolonpathdelim: sticky.scolonpathdelim,
            nofailover: sticky.nofailover,
          },
        }),
    forcerecovery: u.forcerecovery,
    queue: { size: u.queue.size, timeout: u.queue.timeout },
  };
}

/** The group name used while validating; issue paths are made relative to the group. */
const PLACEHOLDER = '_';
const SEGMENT_RE = /\.([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\]/g;

/** `upstreams._.servers[1].weight` -> ['servers', 1, 'weight']. */
export function relativeIssuePath(path: string, name = PLACEHOLDER): PropertyKey[] {
  const prefix = `upstreams.${name}`;
  const rest = path.startsWith(prefix) ? path.slice(prefix.length) : '';
  const out: PropertyKey[] = [];
  for (const m of rest.matchAll(SEGMENT_RE)) out.push(m[1] ?? Number(m[2]));
  return out;
}

/**
 * zod runs refinements after non-fatal issues too (a bad duration leaves its field unset):
 * the balancer's checks only make sense on a group whose every field has its type.
 */
function wellFormed(u: DeepReadonly<UpstreamShape>): boolean {
  const ints = ['weight', 'max_conns', 'max_fails', 'fail_timeout', 'retry', 'lbset'] as const;
  const flags = ['backup', 'spare', 'down', 'drain'] as const;
  return u.servers.every(
    (s) =>
      typeof s.address === 'string' &&
      ints.every((k) => typeof s[k] === 'number') &&
      flags.every((k) => typeof s[k] === 'boolean'),
  );
}

function checkUpstream(u: UpstreamShape, c: z.core.$RefinementCtx<unknown>): void {
  if (!wellFormed(u)) return;
  u.servers.forEach((s, i) => {
    const a = parseServerAddress(s.address);
    if (a.ok && a.value.protocol !== undefined && a.value.protocol !== u.protocol) {
      c.addIssue({
        code: 'custom',
        path: ['servers', i, 'address'],
        message: `${s.address} is ${a.value.protocol}; this group speaks ${u.protocol}`,
      });
    }
  });
  if (u.health_check?.type === 'get_values' && u.protocol !== 'fastcgi') {
    c.addIssue(keyIssue(['health_check', 'type'], 'get_values is a FastCGI probe; this group speaks scgi'));
  }
  if (u.health_check !== undefined && u.health_check.timeout > u.health_check.interval) {
    c.addIssue({
      code: 'custom',
      path: ['health_check', 'timeout'],
      message: 'a probe timeout longer than the interval would let probes pile up',
    });
  }
  if (u.balance === 'hash' && u.hash === undefined) {
    c.addIssue({
      code: 'custom',
      path: ['balance'],
      message: 'balance: hash needs hash.key (nginx: hash KEY)',
    });
  }
  if (u.hash !== undefined && u.balance !== 'hash') {
    c.addIssue(keyIssue(['hash'], `hash applies with balance: hash, not ${u.balance}`));
  }
  if (u.random !== undefined && u.balance !== 'random') {
    c.addIssue(keyIssue(['random'], `random applies with balance: random, not ${u.balance}`));
  }
  if (u.sticky !== undefined && u.sticky.cookie === undefined && u.sticky.url_param === undefined) {
    c.addIssue(keyIssue(['sticky'], 'sticky needs cookie, url_param or both'));
  }
  for (const issue of validateUpstreamOptions(upstreamOptions(PLACEHOLDER, u))) {
    c.addIssue({ code: 'custom', path: relativeIssuePath(issue.path), message: issue.message });
  }
}
