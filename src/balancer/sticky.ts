/**
 * httpd `stickysession` (mod_proxy_balancer.c `find_session_route`): which route a request
 * asks for, read from a URL parameter first, else from a cookie.
 *
 *   stickysession=JSESSIONID|jsessionid   cookie JSESSIONID, URL parameter jsessionid
 *   stickysession=ROUTEID                 the same name for both
 *   stickysessionsep (default ".")        the route is what follows the FIRST separator:
 *                                         "0A1B2C.node1" -> "node1"; a value without the
 *                                         separator carries no route; Off -> the whole value
 *   scolonpathdelim On                    ";" also ends a URL parameter's value
 *
 * URL parameter: `NAME=` where NAME follows "?", "&" or ";" anywhere in the request target
 * (Tomcat's `/app;jsessionid=0A1B.node1?x=1` included); the value ends at "?" or "&" (and ";"
 * with scolonpathdelim). httpd matches NAME anywhere (so `xjsessionid=` would match too); a
 * name must start a parameter here. An empty value is skipped, as httpd does.
 *
 * Cookie: `NAME=` at the start of the header or after ";", "," or whitespace, optional spaces
 * before "="; the value ends at ";" or "," and is trimmed. Names are case-sensitive, as in httpd.
 *
 * Which member serves the route (usable members first, then hot standbys, following
 * `redirect`) is decided by health.ts `routeMember`; this file only reads the request.
 */

export interface StickySessionOptions {
  /** Cookie name; undefined: cookies are not read. */
  readonly cookie?: string | undefined;
  /** URL parameter name; undefined: the URL is not read. */
  readonly urlParam?: string | undefined;
  /** Route separator, one character; false: the whole value is the route. Default ".". */
  readonly separator?: string | false | undefined;
  /** httpd scolonpathdelim: ";" also ends a URL parameter value. Default false. */
  readonly scolonPathDelim?: boolean | undefined;
}

export interface StickyRoute {
  /** The route id to match against members' `route`. */
  readonly route: string;
  /** The whole session value it was taken from. */
  readonly value: string;
  readonly source: 'url' | 'cookie';
  /** The cookie or parameter name it was read from (httpd BALANCER_SESSION_STICKY). */
  readonly name: string;
}

/** Splits httpd's `stickysession=NAME|URLNAME` (no `|`: one name for both). */
export function parseStickySession(value: string): { cookie: string; urlParam: string } {
  const bar = value.indexOf('|');
  if (bar < 0) return { cookie: value, urlParam: value };
  return { cookie: value.slice(0, bar), urlParam: value.slice(bar + 1) };
}

export class StickySessionResolver {
  private readonly cookieName: string | undefined;
  private readonly urlParam: string | undefined;
  private readonly separator: string | false;
  private readonly scolon: boolean;

  constructor(options: StickySessionOptions) {
    this.cookieName = options.cookie || undefined;
    this.urlParam = options.urlParam || undefined;
    this.separator = options.separator ?? '.';
    this.scolon = options.scolonPathDelim ?? false;
  }

  /**
   * The route a request asks for, or undefined. `target` is the request target as received
   * (path and query); `cookie` the Cookie header value(s).
   */
  resolve(
    target: string | undefined,
    cookie: string | readonly string[] | undefined,
  ): StickyRoute | undefined {
    let source: 'url' | 'cookie' = 'url';
    let name = this.urlParam;
    let value = name !== undefined && target !== undefined ? this.fromUrl(target, name) : undefined;
    if (value === undefined && this.cookieName !== undefined && cookie !== undefined) {
      source = 'cookie';
      name = this.cookieName;
      value = cookieValue(typeof cookie === 'string' ? cookie : cookie.join('; '), name);
    }
    if (value === undefined || name === undefined) return undefined;
    let route = value;
    if (this.separator !== false) {
      const at = value.indexOf(this.separator);
      if (at < 0) return undefined;
      route = value.slice(at + this.separator.length);
    }
    if (route === '') return undefined;
    return { route, value, source, name };
  }

  private fromUrl(target: string, name: string): string | undefined {
    for (let at = target.indexOf(name); at >= 0; at = target.indexOf(name, at + 1)) {
      const before = at === 0 ? -1 : target.charCodeAt(at - 1);
      if (before !== 0x3f && before !== 0x26 && before !== 0x3b) continue; // ? & ;
      const start = at + name.length;
      if (target.charCodeAt(start) !== 0x3d) continue; // =
      let end = start + 1;
      while (end < target.length) {
        const c = target.charCodeAt(end);
        if (c === 0x3f || c === 0x26 || (this.scolon && c === 0x3b)) break;
        end++;
      }
      if (end > start + 1) return target.slice(start + 1, end);
    }
    return undefined;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

/** httpd `get_cookie_param`. */
export function cookieValue(header: string, name: string): string | undefined {
  for (let at = header.indexOf(name); at >= 0; at = header.indexOf(name, at + 1)) {
    if (at > 0) {
      const before = header.charCodeAt(at - 1);
      if (before !== 0x3b && before !== 0x2c && !isSpace(before)) continue;
    }
    let i = at + name.length;
    while (i < header.length && isSpace(header.charCodeAt(i))) i++;
    if (header.charCodeAt(i) !== 0x3d || i + 1 >= header.length) continue;
    let end = i + 1;
    while (end < header.length) {
      const c = header.charCodeAt(end);
      if (c === 0x3b || c === 0x2c) break;
      end++;
    }
    // RFC 6265 allows optional whitespace around the value; httpd keeps it, which would put
    // a trailing space into the route.
    return header.slice(i + 1, end).trim();
  }
  return undefined;
}
