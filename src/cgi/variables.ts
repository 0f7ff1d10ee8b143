/**
 * nginx variables (`$request_uri`, `$host`, `$http_NAME`, ...) over a RequestFacts, and
 * templates such as `$document_root$fastcgi_script_name` compiled once at config time and
 * evaluated per request without re-parsing (nginx's script engine, ngx_http_script.c).
 */

import { createRequire } from 'node:module';
import { realpathSync } from 'node:fs';
import { ClientRequestError, GatewayError } from '../errors.ts';
import {
  configError,
  type IssueLocation,
  type RequestTarget,
  splitRequestTarget,
  translatePathInfo,
} from './path.ts';
import type { RequestFacts } from './request-facts.ts';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** Portico's version, for SERVER_SOFTWARE (`portico/<version>`). */
export const PORTICO_VERSION: string = version;

/** What the matched location adds to a request's facts. */
export interface LocationContext {
  /** `root` of the location (nginx strips a trailing `/` at config time; pass it stripped). */
  readonly documentRoot?: string;
  /** `$fastcgi_script_name` / `$script_name` (a split result); default: the request path. */
  readonly scriptName?: string;
  /** `$fastcgi_path_info` / `$path_info`; default ''. */
  readonly pathInfo?: string;
  /** `$script_filename`; default `$document_root$fastcgi_script_name`. */
  readonly scriptFilename?: string;
  /** `$path_translated`; default root + path info when that stays under the root, else ''. */
  readonly pathTranslated?: string;
  /** `$request_filename` when the location knows it better (a regex location's alias). */
  readonly requestFilename?: string;
}

export const INVALID_HOST = 'ERR_INVALID_HOST';

/**
 * One request's variables: the facts, the location's context and lazily parsed parts (host,
 * target) shared by every template evaluated for the request.
 */
export class VariableContext {
  readonly facts: RequestFacts;
  readonly documentRoot: string;
  readonly scriptName: string;
  readonly pathInfo: string;
  readonly location: LocationContext;
  private parsedHost: ParsedHost | undefined;
  private parsedTarget: RequestTarget | undefined;

  constructor(facts: RequestFacts, location: LocationContext = {}) {
    this.facts = facts;
    this.location = location;
    this.documentRoot = location.documentRoot ?? facts.documentRoot;
    this.scriptName = location.scriptName ?? facts.path;
    this.pathInfo = location.pathInfo ?? '';
  }

  get scriptFilename(): string {
    return this.location.scriptFilename ?? this.documentRoot + this.scriptName;
  }

  get pathTranslated(): string {
    return this.location.pathTranslated ?? translatePathInfo(this.documentRoot, this.pathInfo);
  }

  get target(): RequestTarget {
    return (this.parsedTarget ??= splitRequestTarget(this.facts.rawTarget));
  }

  /**
   * nginx `$host` and `r->port`: the host of an absolute-form target, else of the Host header,
   * validated, lower-cased, trailing dot and port removed; else the server name. An invalid
   * host is a 400 (the HTTP front normally refused it already with `parseHost`).
   */
  get host(): ParsedHost {
    if (this.parsedHost !== undefined) return this.parsedHost;
    const authority = this.target.authority;
    const raw = authority !== '' ? authority : this.facts.host;
    if (raw === '') return (this.parsedHost = { host: this.facts.serverName, port: 0 });
    const parsed = parseHost(raw);
    if (parsed === null)
      throw new ClientRequestError(INVALID_HOST, `invalid host ${JSON.stringify(raw)}`, 400);
    return (this.parsedHost = parsed);
  }
}

export interface ParsedHost {
  readonly host: string;
  /** The port the client named, 0 when none (nginx `r->port`). */
  readonly port: number;
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** Host bytes besides `.`, `:`, `%`: alnum, unreserved `-_~`, sub-delims (RFC 3986 3.2.2). */
const HOST_BYTE = new Uint8Array(256);
for (const ch of "-_~!$&'()*+,;=") HOST_BYTE[ch.charCodeAt(0)] = 1;
for (let c = 0; c < 256; c++) if (isAlnum(c)) HOST_BYTE[c] = 1;

/**
 * Validate a Host header / authority the way nginx does (ngx_http_validate_host): reg-name or
 * IP literal, no `..`, port digits <= 65535; returns the lower-cased host without a trailing
 * dot, or null when nginx would answer 400.
 */
export function parseHost(raw: string): ParsedHost | null {
  let hostLen = raw.length;
  let dotPos = -2;
  let port = 0;
  let state: 'start' | 'host' | 'literal' | 'end' | 'port' = 'start';
  let upper = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (state === 'start') {
      if (c === 0x5b) {
        state = 'literal';
        continue;
      }
      state = 'host';
    }
    if (state === 'host' || state === 'literal') {
      if (c >= 0x41 && c <= 0x5a) upper = true;
      else if (c === 0x2e) {
        if (dotPos === i - 1) return null;
        dotPos = i;
      } else if (state === 'host' && c === 0x3a) {
        hostLen = i;
        state = 'port';
      } else if (state === 'literal' && c === 0x5d) {
        hostLen = i + 1;
        state = 'end';
      } else if (
        !(HOST_BYTE[c] === 1 || (state === 'host' && c === 0x25) || (state === 'literal' && c === 0x3a))
      ) {
        return null;
      }
    } else if (state === 'end') {
      if (c !== 0x3a) return null;
      state = 'port';
    } else {
      if (c < 0x30 || c > 0x39) return null;
      port = port * 10 + (c - 0x30);
      if (port > 65535) return null;
    }
  }
  if (state === 'literal') return null;
  if (dotPos === hostLen - 1) hostLen--;
  if (hostLen <= 0) return null;
  const host = raw.slice(0, hostLen);
  return { host: upper ? host.toLowerCase() : host, port };
}

// ---------------------------------------------------------------------------------------------
// Variables

export type Getter = (ctx: VariableContext) => string;

const escapeHtml = (s: string): string =>
  /[&<>"]/.test(s)
    ? s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
    : s;

/** nginx `$request_filename`: root + $uri, or a prefix location's alias + the rest of $uri. */
function requestFilename(c: VariableContext): string {
  const known = c.location.requestFilename;
  if (known !== undefined) return known;
  const alias = c.facts.alias;
  const path = c.facts.path;
  if (alias !== undefined && c.documentRoot === c.facts.documentRoot && path.startsWith(alias.prefix)) {
    return alias.text + path.slice(alias.prefix.length);
  }
  return c.documentRoot + path;
}

/**
 * nginx `$realpath_root`: the document root with every symlink resolved, per request, so a
 * deploy that switches `current -> releases/N` gives PHP (and its opcache, which keys on the
 * path) the new release at once. A blocking realpath(3), as nginx's; computed only when a
 * template uses it. A root that cannot be resolved is a 500, as nginx's NGX_ERROR.
 */
function realpathRoot(c: VariableContext): string {
  const root = c.documentRoot === '' ? '/' : c.documentRoot;
  try {
    // The same string form as the configured root it comes from.
    return realpathSync.native(root);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new GatewayError(
      'ERR_REALPATH_ROOT',
      `realpath() "${root}" failed (${code})`,
      'gateway',
      500,
      'none',
    );
  }
}

/** The named variables. Portico extras are marked; everything else is nginx's own. */
const VARIABLES = new Map<string, Getter>([
  [
    'request_uri',
    (c) => (c.facts.rawTarget.charCodeAt(0) === 0x2f ? c.facts.rawTarget : c.target.requestUri),
  ],
  ['uri', (c) => c.facts.path],
  ['document_uri', (c) => c.facts.path],
  ['args', (c) => c.facts.args],
  ['query_string', (c) => c.facts.args],
  ['is_args', (c) => (c.facts.args === '' ? '' : '?')],
  ['request_method', (c) => c.facts.method],
  ['content_type', (c) => c.facts.contentType],
  ['content_length', (c) => c.facts.contentLength],
  ['scheme', (c) => c.facts.scheme],
  ['https', (c) => (c.facts.https ? 'on' : '')],
  ['host', (c) => c.host.host],
  ['hostname', (c) => c.facts.hostname],
  ['server_name', (c) => c.facts.serverName],
  ['server_addr', (c) => c.facts.serverAddr],
  ['server_port', (c) => c.facts.serverPort],
  ['server_protocol', (c) => c.facts.serverProtocol],
  ['remote_addr', (c) => c.facts.remoteAddr],
  ['remote_port', (c) => c.facts.remotePort],
  ['document_root', (c) => c.documentRoot],
  ['request_filename', requestFilename],
  ['realpath_root', realpathRoot],
  ['fastcgi_script_name', (c) => c.scriptName],
  ['fastcgi_path_info', (c) => c.pathInfo],
  ['request_id', (c) => c.facts.requestId],
  // nginx 1.29.5: HTTP_HOST = $host$is_request_port$request_port
  ['is_request_port', (c) => (c.host.port === 0 ? '' : ':')],
  ['request_port', (c) => (c.host.port === 0 ? '' : String(c.host.port))],
  // Portico: the CGI quartet for any route (nginx split or httpd ProxyPass rules).
  ['script_name', (c) => c.scriptName],
  ['path_info', (c) => c.pathInfo],
  ['script_filename', (c) => c.scriptFilename],
  ['path_translated', (c) => c.pathTranslated],
  // Portico: the request-target as sent (httpd REQUEST_URI, absolute-form kept).
  ['request_target', (c) => c.facts.rawTarget],
  // Portico: httpd's SERVER_NAME / SERVER_PORT under UseCanonicalName Off (util_script.c):
  // the client's host, HTML-escaped; the client's port, else the scheme's default.
  ['apache_server_name', (c) => escapeHtml(c.host.host)],
  ['apache_server_port', (c) => (c.host.port !== 0 ? String(c.host.port) : c.facts.https ? '443' : '80')],
]);

/** Variables whose value never changes: folded into literals at compile time. */
const CONSTANTS = new Map<string, string>([['portico_version', PORTICO_VERSION]]);

/** True when header `name` maps to `suffix` (lower-case, `_` for `-`), nginx's $http_ rule. */
function headerMatches(name: string, suffix: string): boolean {
  if (name.length !== suffix.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    else if (c === 0x2d) c = 0x5f;
    if (c !== suffix.charCodeAt(i)) return false;
  }
  return true;
}

/** `$http_NAME`: every matching header, joined with `, ` (`; ` for Cookie), as nginx 1.23+. */
function httpVariable(suffix: string): Getter {
  const sep = suffix === 'cookie' ? '; ' : ', ';
  return (c) => {
    const h = c.facts.headers;
    let value: string | undefined;
    for (let i = 0; i + 1 < h.length; i += 2) {
      if (headerMatches(h[i]!, suffix)) value = value === undefined ? h[i + 1]! : value + sep + h[i + 1]!;
    }
    return value ?? '';
  };
}

/**
 * `$cookie_NAME` (ngx_http_parse_multi_header_lines with `;`): the first `name=value` pair
 * across the Cookie headers, name compared case-insensitively, spaces around `=` skipped.
 */
function cookieVariable(name: string): Getter {
  return (c) => {
    const h = c.facts.headers;
    for (let i = 0; i + 1 < h.length; i += 2) {
      if (!headerMatches(h[i]!, 'cookie')) continue;
      const v = h[i + 1]!;
      let at = 0;
      while (at < v.length) {
        if (startsWithLower(v, at, name)) {
          let p = at + name.length;
          while (p < v.length && v.charCodeAt(p) === 0x20) p++;
          if (v.charCodeAt(p) === 0x3d) {
            p++;
            while (p < v.length && v.charCodeAt(p) === 0x20) p++;
            const end = v.indexOf(';', p);
            return v.slice(p, end === -1 ? v.length : end);
          }
        }
        const semi = v.indexOf(';', at);
        if (semi === -1) break;
        at = semi + 1;
        while (at < v.length && v.charCodeAt(at) === 0x20) at++;
      }
    }
    return '';
  };
}

/** True when `s` has `lower` (ASCII lower-case) at `at`, ignoring ASCII case. */
function startsWithLower(s: string, at: number, lower: string): boolean {
  if (at + lower.length > s.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let c = s.charCodeAt(at + i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** `$arg_NAME` (ngx_http_arg): the raw value of the first `name=` at the start or after `&`. */
function argVariable(name: string): Getter {
  return (c) => {
    const args = c.facts.args;
    if (args === '') return '';
    const lower = args.toLowerCase();
    let at = lower.indexOf(name);
    while (at !== -1) {
      if ((at === 0 || args.charCodeAt(at - 1) === 0x26) && args.charCodeAt(at + name.length) === 0x3d) {
        const start = at + name.length + 1;
        const end = args.indexOf('&', start);
        return args.slice(start, end === -1 ? args.length : end);
      }
      at = lower.indexOf(name, at + 1);
    }
    return '';
  };
}

function captureVariable(n: number): Getter {
  return (c) => c.facts.captures[n] ?? '';
}

/** The getter for a (lower-cased) variable name, or undefined when unknown. */
export function lookupVariable(name: string): Getter | undefined {
  const fixed = VARIABLES.get(name);
  if (fixed !== undefined) return fixed;
  if (name.length === 1 && name >= '1' && name <= '9') return captureVariable(Number(name));
  if (name.startsWith('http_') && name.length > 5) return httpVariable(name.slice(5));
  if (name.startsWith('cookie_') && name.length > 7) return cookieVariable(name.slice(7));
  if (name.startsWith('arg_') && name.length > 4) return argVariable(name.slice(4));
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Templates

export interface TemplateProblem {
  readonly message: string;
  /** Offset of the `$` in the source. */
  readonly offset: number;
}

export interface Template {
  readonly source: string;
  /** The source has no variable at all (nginx's empty-literal `HTTP_*` rule looks at this). */
  readonly isLiteral: boolean;
  /** Variable names used, lower-cased, in order of appearance. */
  readonly variables: readonly string[];
  /**
   * The value, when no part depends on the request (a literal, or `portico/$portico_version`
   * whose variable is folded at compile time); undefined otherwise. Lets the env builder build
   * such a param once per location instead of once per request.
   */
  readonly constant: string | undefined;
  evaluate(ctx: VariableContext): string;
}

type Part = string | Getter;

class CompiledTemplate implements Template {
  readonly source: string;
  readonly isLiteral: boolean;
  readonly variables: readonly string[];
  readonly constant: string | undefined;
  readonly evaluate: (ctx: VariableContext) => string;

  constructor(source: string, parts: readonly Part[], variables: readonly string[]) {
    this.source = source;
    this.variables = variables;
    this.isLiteral = variables.length === 0;
    // checkTemplate merges adjacent literals, so a constant template has at most one part.
    const only = parts[0];
    this.constant =
      parts.length === 0 ? '' : parts.length === 1 && typeof only === 'string' ? only : undefined;
    this.evaluate = specialise(parts);
  }
}

/** One closure shape per common template form, so evaluation is a call or a concatenation. */
function specialise(parts: readonly Part[]): (ctx: VariableContext) => string {
  if (parts.length === 0) return () => '';
  if (parts.length === 1) {
    const p = parts[0]!;
    return typeof p === 'string' ? () => p : p;
  }
  if (parts.length === 2) {
    const [a, b] = parts as [Part, Part];
    if (typeof a === 'string') return (c) => a + (b as Getter)(c);
    if (typeof b === 'string') return (c) => a(c) + b;
    return (c) => a(c) + b(c);
  }
  return (c) => {
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(c);
    return out;
  };
}

function isNameChar(c: number): boolean {
  return isAlnum(c) || c === 0x5f;
}

/**
 * Parse a template with nginx's syntax (ngx_http_script_compile): `$name` (letters, digits,
 * `_`), `${name}` to end a name inside a word, `$1`..`$9` captures (one digit). Names are
 * case-insensitive. There is no escape for a literal `$`, as in nginx. Returns the template,
 * or every problem found.
 */
export function checkTemplate(source: string): { template?: Template; problems: TemplateProblem[] } {
  const parts: Part[] = [];
  const variables: string[] = [];
  const problems: TemplateProblem[] = [];
  let literal = '';
  const flush = (): void => {
    if (literal !== '') parts.push(literal);
    literal = '';
  };
  let i = 0;
  while (i < source.length) {
    const at = source.indexOf('$', i);
    if (at === -1) {
      literal += source.slice(i);
      break;
    }
    literal += source.slice(i, at);
    i = at + 1;
    let name: string;
    const d = source.charCodeAt(i);
    if (d >= 0x31 && d <= 0x39) {
      name = source[i]!;
      i++;
    } else {
      const bracket = d === 0x7b;
      if (bracket) i++;
      const start = i;
      while (i < source.length && isNameChar(source.charCodeAt(i))) i++;
      name = source.slice(start, i).toLowerCase();
      if (bracket) {
        if (source.charCodeAt(i) !== 0x7d) {
          problems.push({
            message: `the closing bracket in variable "${source.slice(at)}" is missing`,
            offset: at,
          });
          break;
        }
        i++;
      }
      if (name === '') {
        problems.push({ message: `invalid variable name in ${JSON.stringify(source)}`, offset: at });
        continue;
      }
    }
    variables.push(name);
    const constant = CONSTANTS.get(name);
    if (constant !== undefined) {
      literal += constant;
      continue;
    }
    const getter = lookupVariable(name);
    if (getter === undefined) {
      problems.push({ message: `unknown variable "$${name}"`, offset: at });
      continue;
    }
    flush();
    parts.push(getter);
  }
  flush();
  if (problems.length > 0) return { problems };
  return { template: new CompiledTemplate(source, parts, variables), problems };
}

/** `checkTemplate`, throwing a ConfigError that lists every problem. */
export function compileTemplate(source: string, where?: IssueLocation): Template {
  const { template, problems } = checkTemplate(source);
  if (template === undefined) throw configError(problems.map((p) => p.message).join('; '), where);
  return template;
}
