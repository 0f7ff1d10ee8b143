/**
 * Apache httpd `ProxyPass` / `ProxyPassMatch` mapping (mod_proxy.c `ap_proxy_trans_match`,
 * `alias_match`; C.5, C.6), on the decoded, normalised request path without its query.
 *
 *   - { path: /app/,   url: "fcgi://127.0.0.1:9000/srv/" }          ProxyPass
 *   - { match: "^/(.*\\.php(/.*)?)$", url: "fcgi://127.0.0.1:9000/var/www/$1" }   ProxyPassMatch
 *   - { path: /app/static/, url: "!" }                             ProxyPass /app/static/ !
 *
 * Rules are tried in configuration order and the first that matches wins (httpd walks its
 * alias list the same way), so put the narrower rules first. A `!` rule that matches ends the
 * scan with no route: the request is not proxied by this table.
 *
 * ProxyPass prefixes match as httpd's `alias_match` does: a run of `/` in the prefix matches a
 * run of `/` in the path, and the prefix must end on a segment boundary, so `/app` matches
 * `/app`, `/app/x` and `/app//x` but not `/apple`. A prefix ending in `/` needs that `/`:
 * `/scgi-bin/` does not match `/scgi-bin` (httpd answers that one from its other handlers,
 * typically 404; add a rule for `/scgi-bin` if you want it). The backend path is the URL's path
 * followed by what the prefix left of the request path, so the URL should end in `/` exactly
 * when the prefix does (httpd's documented warning; we report it in `warnings`, and refuse the
 * case httpd turns into a broken URL: prefix ending in `/` and a URL with no path at all).
 *
 * ProxyPassMatch runs the regex on the decoded path and substitutes `$0`..`$9` (one digit; an
 * unmatched group gives '') into the URL path; `\x` stands for `x` (ap_pregsub). When the URL
 * has no substitution at all, the whole request path is appended, as httpd does
 * ("ProxyPassMatch \.gif balancer://foo"). `$N` is refused outside the URL path, so the request
 * never chooses the backend (CVE-2021-40438; see pool/address.ts).
 *
 * Hardening beyond httpd: a backend path with a `.` or `..` segment (a capture such as
 * `^/x(.*)` can produce `/srv/../etc`) throws ClientRequestError 404 instead of reaching the
 * backend, where SCRIPT_FILENAME would escape the script root.
 *
 * With nginx locations (proposal): the pipeline consults this table first, as httpd runs
 * ProxyPass in its translate_name hook before any <Location> applies. A route here chooses the
 * backend and the backend path; the matching location (if any) still supplies its other
 * settings (limits, headers, buffering) but its own `pass` is not used. No route (no rule, or a
 * `!` rule) leaves routing to the locations. ProxyPass inside <Location> (no path) is not
 * supported: write the path.
 */
import { type BackendAddress, parseBalancerUrl, tryParseBackendAddress } from '../pool/address.ts';
import { ClientRequestError, ConfigError, type ConfigIssue } from '../errors.ts';
import { compileConfigRegex } from './locations.ts';

export interface ProxyPassSpec {
  /** ProxyPass: a path prefix. Exactly one of `path` and `match`. */
  readonly path?: string | undefined;
  /** ProxyPassMatch: a regex on the decoded path. */
  readonly match?: string | undefined;
  /** `scgi://`, `fcgi://` or `unix:/x.sock|fcgi://...` URL, or `!` to exclude. */
  readonly url: string;
}

export interface ProxyPassRoute<T> {
  readonly rule: T;
  /** Position of the rule in the configured list. */
  readonly index: number;
  readonly address: BackendAddress;
  /** URL path to send (decoded, no query): URL path + remainder, or the substituted URL path. */
  readonly backendPath: string;
  /** `$0`, `$1`, ... of a ProxyPassMatch rule; empty for ProxyPass. */
  readonly captures: readonly string[];
}

export interface ProxyPassTable<T> {
  match(path: string): ProxyPassRoute<T> | undefined;
  /** Rules that compile but probably do not do what was meant. */
  readonly warnings: readonly ConfigIssue[];
  readonly size: number;
}

export interface CompileProxyPassOptions {
  /** Where field `key` of rule `index` was written, for config issues and warnings. */
  readonly locate?: (index: number, key: 'path' | 'match' | 'url') => Omit<ConfigIssue, 'message'>;
}

/** Literal text, or the number of a group to substitute. */
type TemplatePart = string | number;

interface Rule<T> {
  readonly spec: T;
  readonly index: number;
  /** undefined for a `!` rule. */
  readonly address: BackendAddress | undefined;
  readonly prefix: string | undefined;
  readonly regex: RegExp | undefined;
  readonly template: readonly TemplatePart[] | undefined;
}

/**
 * The rule's backend: a URL's address, or for `balancer://NAME/path` a stand-in that carries the
 * URL path and names the group in `display` (the group's members are the runtime's business).
 */
function ruleAddress(url: string, issue: (message: string) => void): BackendAddress | undefined {
  const balancer = parseBalancerUrl(url);
  if (balancer !== undefined) {
    return {
      protocol: undefined,
      transport: 'tcp',
      urlPath: balancer.urlPath,
      display: `balancer://${balancer.name}`,
    };
  }
  const parsed = tryParseBackendAddress(url);
  if (!parsed.ok) {
    issue(parsed.message);
    return undefined;
  }
  if (parsed.address.protocol === undefined) {
    issue(
      `"${url}" needs a scheme: scgi://host[:port]/path, fcgi://host[:port]/path or balancer://NAME/path`,
    );
    return undefined;
  }
  return parsed.address;
}

const MAX_GROUP = 9; // AP_MAX_REG_MATCH is 10: $0..$9
const NO_CAPTURES: readonly string[] = Object.freeze([]);

/** Compiles the rule list once; throws `ConfigError` with every issue found. */
export function compileProxyPass<T extends ProxyPassSpec>(
  list: readonly T[],
  options?: CompileProxyPassOptions,
): ProxyPassTable<T> {
  const locate =
    options?.locate ??
    ((i: number, key: string) => ({ file: '<config>', line: 0, column: 0, path: `proxy_pass[${i}].${key}` }));
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const rules: Rule<T>[] = [];

  for (let index = 0; index < list.length; index++) {
    const spec = list[index]!;
    const issue = (key: 'path' | 'match' | 'url', message: string): void => {
      issues.push({ ...locate(index, key), message });
    };
    const warn = (key: 'path' | 'match' | 'url', message: string): void => {
      warnings.push({ ...locate(index, key), message });
    };
    const isMatch = spec.match !== undefined;
    if (isMatch === (spec.path !== undefined)) {
      issue(
        isMatch ? 'match' : 'path',
        'give exactly one of "path" (ProxyPass) and "match" (ProxyPassMatch)',
      );
      continue;
    }
    let regex: RegExp | undefined;
    let groups = 0;
    if (isMatch) {
      const compiled = compileConfigRegex(spec.match!, false);
      if (typeof compiled === 'string') {
        issue('match', compiled);
        continue;
      }
      regex = compiled;
      groups = new RegExp(`${compiled.source}|`, compiled.flags).exec('')!.length - 1;
    } else if (!spec.path!.startsWith('/')) {
      issue('path', `ProxyPass path "${spec.path}" must start with "/"`);
      continue;
    }
    if (spec.url === '!') {
      rules.push({ spec, index, address: undefined, prefix: spec.path, regex, template: undefined });
      continue;
    }
    const address = ruleAddress(spec.url, (message) => issue('url', message));
    if (address === undefined) continue;
    let template: TemplatePart[] | undefined;
    if (isMatch) {
      template = compileTemplate(address.urlPath);
      for (const part of template) {
        if (typeof part === 'number' && part > groups) {
          warn('url', `$${part} refers to a group the regex does not have; it is always empty`);
        }
      }
    } else {
      const path = spec.path!;
      const slashPath = path.endsWith('/');
      if (slashPath && address.urlPath === '') {
        issue(
          'url',
          `"${spec.url}" has no path while "${path}" ends with "/": the remainder would be joined without a "/" (write the URL with a trailing "/")`,
        );
        continue;
      }
      if (slashPath !== address.urlPath.endsWith('/') && address.urlPath !== '') {
        warn(
          'url',
          `"${path}" and "${spec.url}" should both end with "/" or both not: the backend path may lose or double a "/"`,
        );
      }
      if (compileTemplate(address.urlPath).some((p) => typeof p === 'number')) {
        warn('url', 'ProxyPass does not substitute $N (only ProxyPassMatch does); it is sent as written');
      }
    }
    rules.push({ spec, index, address, prefix: isMatch ? undefined : spec.path, regex, template });
  }
  if (issues.length > 0) throw new ConfigError(issues);

  return {
    size: list.length,
    warnings,
    match(path) {
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i]!;
        let backendPath: string;
        let captures = NO_CAPTURES;
        if (rule.regex !== undefined) {
          const m = rule.regex.exec(path);
          if (m === null) continue;
          if (rule.address === undefined) return undefined;
          const found = substitute(rule.template!, m);
          const urlPath = rule.address.urlPath;
          backendPath = found !== urlPath ? found : urlPath + path;
          const all = new Array<string>(m.length);
          for (let g = 0; g < m.length; g++) all[g] = m[g] ?? '';
          captures = all;
        } else {
          const len = aliasMatch(path, rule.prefix!);
          if (len === 0) continue;
          if (rule.address === undefined) return undefined;
          backendPath = rule.address.urlPath + path.slice(len);
        }
        if (hasDotSegment(backendPath)) {
          throw new ClientRequestError(
            'ERR_UNSAFE_BACKEND_PATH',
            `rule ${rule.index} maps the request to "${backendPath}", which has a dot segment`,
            404,
          );
        }
        return { rule: rule.spec, index: rule.index, address: rule.address, backendPath, captures };
      }
      return undefined;
    },
  };
}

/**
 * httpd's alias_match: the number of path characters the prefix consumed (more than its length
 * when the path doubles slashes), or 0 when it does not match.
 */
export function aliasMatch(path: string, prefix: string): number {
  const plen = prefix.length;
  const ulen = path.length;
  let a = 0;
  let u = 0;
  while (a < plen && u < ulen) {
    if (prefix.charCodeAt(a) === 0x2f) {
      // Any run of '/' in the prefix matches any run in the path, but there must be one.
      if (path.charCodeAt(u) !== 0x2f) return 0;
      while (a < plen && prefix.charCodeAt(a) === 0x2f) a++;
      while (u < ulen && path.charCodeAt(u) === 0x2f) u++;
    } else if (path.charCodeAt(u++) !== prefix.charCodeAt(a++)) {
      return 0;
    }
  }
  // The path ended before the prefix did ("/" against "/examples").
  if (u === ulen && a !== plen) return 0;
  // The last prefix segment must have matched all the way: "/app" is not a prefix of "/apple".
  if (prefix.charCodeAt(a - 1) !== 0x2f && u < ulen && path.charCodeAt(u) !== 0x2f) return 0;
  return u;
}

/** ap_pregsub's template: `$` + one digit is a group, `\x` is `x`, the rest is literal. */
function compileTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (c === 0x24 /* $ */ && next >= 0x30 && next <= 0x30 + MAX_GROUP) {
      if (literal !== '') parts.push(literal);
      literal = '';
      parts.push(next - 0x30);
      i++;
    } else if (c === 0x5c /* \ */ && i + 1 < text.length) {
      literal += text[i + 1];
      i++;
    } else {
      literal += text[i];
    }
  }
  if (literal !== '') parts.push(literal);
  return parts;
}

function substitute(template: readonly TemplatePart[], m: RegExpExecArray): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const part = template[i]!;
    out += typeof part === 'string' ? part : (m[part] ?? '');
  }
  return out;
}

/** A `.` or `..` segment anywhere (the path is read as if it began after a `/`). */
function hasDotSegment(path: string): boolean {
  let at = path.charCodeAt(0) === 0x2e ? 0 : path.indexOf('/.');
  while (at !== -1) {
    const start = path.charCodeAt(at) === 0x2f ? at + 1 : at;
    let end = start + 1;
    if (path.charCodeAt(end) === 0x2e) end++;
    if (end === path.length || path.charCodeAt(end) === 0x2f) return true;
    at = path.indexOf('/.', start);
  }
  return false;
}
