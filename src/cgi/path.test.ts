import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientRequestError, ConfigError, GatewayError } from '../errors.ts';
import { Prng } from '../util/prng.ts';
import {
  type ApacheProxyRoute,
  apacheProxyPaths,
  canonEncodePath,
  compileSplitPathInfo,
  decodeRequestPath,
  findPathInfo,
  hasDotSegment,
  PATH_ABOVE_ROOT,
  PATH_BAD_BYTE,
  PATH_BAD_ESCAPE,
  PATH_INFO_UNSAFE,
  PATH_NOT_ABSOLUTE,
  splitPathInfo,
  splitRequestTarget,
  translatePathInfo,
} from './path.ts';

function rejects(raw: string, code: string): void {
  assert.throws(
    () => decodeRequestPath(raw),
    (e: unknown) => e instanceof ClientRequestError && e.code === code && e.status === 400,
    raw,
  );
}

describe('decodeRequestPath', () => {
  it('returns a plain path unchanged', () => {
    const raw = '/a/b.php/c';
    assert.equal(decodeRequestPath(raw), raw);
    assert.equal(decodeRequestPath('/'), '/');
    assert.equal(decodeRequestPath('/.well-known/x'), '/.well-known/x');
  });

  it('decodes percent-escapes once, to raw bytes as latin1', () => {
    assert.equal(decodeRequestPath('/a%20b'), '/a b');
    assert.equal(decodeRequestPath('/%C3%A9t%c3%a9'), '/\xc3\xa9t\xc3\xa9');
    assert.equal(decodeRequestPath('/%2541'), '/%41'); // never decoded twice
    assert.equal(decodeRequestPath('/a%3Fb%23c'), '/a?b#c');
    assert.equal(decodeRequestPath('/caf\xe9'), '/caf\xe9'); // raw 8-bit bytes pass
  });

  it('merges slashes and resolves dot segments', () => {
    assert.equal(decodeRequestPath('/a/./b//c'), '/a/b/c');
    assert.equal(decodeRequestPath('//a///b'), '/a/b');
    assert.equal(decodeRequestPath('/a/b/../c'), '/a/c');
    assert.equal(decodeRequestPath('/a/b/..'), '/a/');
    assert.equal(decodeRequestPath('/a/..'), '/');
    assert.equal(decodeRequestPath('/a/.'), '/a/');
    assert.equal(decodeRequestPath('/.'), '/');
    assert.equal(decodeRequestPath('/a/b/'), '/a/b/');
    assert.equal(decodeRequestPath('/a/.../b'), '/a/.../b');
    assert.equal(decodeRequestPath('/a/..b/.c'), '/a/..b/.c');
  });

  it('treats decoded slashes and dots as structure, as nginx does', () => {
    assert.equal(decodeRequestPath('/a%2Fb'), '/a/b');
    assert.equal(decodeRequestPath('/a%2F%2Fb'), '/a/b');
    assert.equal(decodeRequestPath('/a/b/%2e%2e/c'), '/a/c');
    assert.equal(decodeRequestPath('/a/b/.%2E%2fc'), '/a/c');
    rejects('/%2e%2e/etc/passwd', PATH_ABOVE_ROOT);
  });

  it('refuses to climb above the root', () => {
    rejects('/a/../../b', PATH_ABOVE_ROOT);
    rejects('/..', PATH_ABOVE_ROOT);
    rejects('/../a', PATH_ABOVE_ROOT);
    rejects('//..', PATH_ABOVE_ROOT);
  });

  it('refuses control bytes, raw or decoded (CVE-2019-11043)', () => {
    rejects('/a.php%0a/x', PATH_BAD_BYTE);
    rejects('/a.php%0A', PATH_BAD_BYTE);
    rejects('/a%00b', PATH_BAD_BYTE);
    rejects('/a%0db', PATH_BAD_BYTE);
    rejects('/a%7f', PATH_BAD_BYTE);
    rejects('/a%1f', PATH_BAD_BYTE);
    rejects('/a\nb', PATH_BAD_BYTE);
    rejects('/a\x00', PATH_BAD_BYTE);
    rejects('/a\x7f', PATH_BAD_BYTE);
    rejects('/a b', PATH_BAD_BYTE);
    rejects('/a#b', PATH_BAD_BYTE);
    rejects('/\u0100', PATH_BAD_BYTE);
  });

  it('refuses invalid percent-escapes', () => {
    rejects('/a%', PATH_BAD_ESCAPE);
    rejects('/a%2', PATH_BAD_ESCAPE);
    rejects('/a%zz', PATH_BAD_ESCAPE);
    rejects('/a%g0', PATH_BAD_ESCAPE);
    rejects('/%%41', PATH_BAD_ESCAPE);
  });

  it('refuses a path that is not absolute', () => {
    rejects('', PATH_NOT_ABSOLUTE);
    rejects('a/b', PATH_NOT_ABSOLUTE);
    rejects('*', PATH_NOT_ABSOLUTE);
    rejects('%2Fa', PATH_NOT_ABSOLUTE);
  });

  it('property: random inputs either throw ClientRequestError or give a normal path', () => {
    const prng = new Prng();
    const alphabet = [
      '/',
      '/',
      '.',
      '..',
      '%2e',
      '%2F',
      '%25',
      '%0a',
      '%',
      'a',
      'b',
      '%41',
      '\xe9',
      ' ',
      '#',
    ];
    for (let n = 0; n < 5000; n++) {
      let raw = '/';
      const len = prng.int(0, 12);
      for (let k = 0; k < len; k++) raw += alphabet[prng.int(0, alphabet.length - 1)];
      let out: string;
      try {
        out = decodeRequestPath(raw);
      } catch (e) {
        assert.ok(e instanceof ClientRequestError, `seed ${prng.seed}: ${raw}`);
        continue;
      }
      assert.ok(out.startsWith('/'), `seed ${prng.seed}: ${raw} -> ${out}`);
      assert.ok(!out.includes('//'), `seed ${prng.seed}: ${raw} -> ${out}`);
      assert.ok(!hasDotSegment(out), `seed ${prng.seed}: ${raw} -> ${out}`);
      assert.ok(out.length <= raw.length);
      // Decoding is done once: a result without `%` is a fixed point.
      if (!out.includes('%')) assert.equal(decodeRequestPath(out), out);
    }
  });
});

describe('splitRequestTarget', () => {
  it('splits origin-form at the first ?', () => {
    assert.deepEqual(splitRequestTarget('/a%20b?x=1&y=?'), {
      rawPath: '/a%20b',
      args: 'x=1&y=?',
      authority: '',
      requestUri: '/a%20b?x=1&y=?',
    });
    assert.deepEqual(splitRequestTarget('/a?'), {
      rawPath: '/a',
      args: '',
      authority: '',
      requestUri: '/a?',
    });
  });

  it('takes the authority out of absolute-form, as nginx', () => {
    assert.deepEqual(splitRequestTarget('http://Example.com:8080/p?q'), {
      rawPath: '/p',
      args: 'q',
      authority: 'Example.com:8080',
      requestUri: '/p?q',
    });
    assert.deepEqual(splitRequestTarget('http://h'), {
      rawPath: '/',
      args: '',
      authority: 'h',
      requestUri: '/',
    });
    assert.deepEqual(splitRequestTarget('https://h?x'), {
      rawPath: '/',
      args: 'x',
      authority: 'h',
      requestUri: '?x',
    });
  });
});

describe('splitPathInfo (fastcgi_split_path_info + fastcgi_index)', () => {
  const php = compileSplitPathInfo('^(.+?\\.php)(/.*)$');

  it('splits on a match', () => {
    assert.deepEqual(splitPathInfo('/a/x.php/b/c', php, 'index.php'), {
      scriptName: '/a/x.php',
      pathInfo: '/b/c',
    });
    assert.deepEqual(splitPathInfo('/x.php/y.php/z', php, ''), {
      scriptName: '/x.php',
      pathInfo: '/y.php/z',
    });
  });

  it('keeps the URI whole without a match or a regex', () => {
    assert.deepEqual(splitPathInfo('/a/x.php', php, ''), { scriptName: '/a/x.php', pathInfo: '' });
    assert.deepEqual(splitPathInfo('/a/x.php/b', undefined, ''), { scriptName: '/a/x.php/b', pathInfo: '' });
  });

  it('appends the index to a script name ending in /', () => {
    assert.deepEqual(splitPathInfo('/dir/', undefined, 'index.php'), {
      scriptName: '/dir/index.php',
      pathInfo: '',
    });
    const dirRe = compileSplitPathInfo('^(.+/)(info/.*)$');
    assert.deepEqual(splitPathInfo('/d/info/x', dirRe, 'i.php'), {
      scriptName: '/d/i.php',
      pathInfo: 'info/x',
    });
    assert.deepEqual(splitPathInfo('/dir/', undefined, ''), { scriptName: '/dir/', pathInfo: '' });
  });

  it('reads an unmatched optional capture as empty', () => {
    const re = compileSplitPathInfo('^(.+\\.php)(/.*)?$');
    assert.deepEqual(splitPathInfo('/x.php', re, ''), { scriptName: '/x.php', pathInfo: '' });
  });

  it('refuses a path info with a dot segment (E16)', () => {
    const odd = compileSplitPathInfo('^(.+\\.php)(.*)$');
    assert.throws(
      () => splitPathInfo('/x.php../etc', odd, ''),
      (e: unknown) => e instanceof ClientRequestError && e.code === PATH_INFO_UNSAFE && e.status === 404,
    );
  });

  it('requires exactly two captures and a valid regex at compile time', () => {
    assert.throws(() => compileSplitPathInfo('^(.+\\.php)$'), ConfigError);
    assert.throws(() => compileSplitPathInfo('^(a)(b)(c)$'), ConfigError);
    assert.throws(() => compileSplitPathInfo('^(a'), ConfigError);
    assert.throws(
      () => compileSplitPathInfo('x', { file: 'p.yaml', line: 3, column: 5, path: 'locations[0]' }),
      (e: unknown) => e instanceof ConfigError && e.issues[0]?.file === 'p.yaml' && e.issues[0]?.line === 3,
    );
    assert.ok(compileSplitPathInfo('^(?<s>.+\\.php)(/.*)$') instanceof RegExp);
  });
});

describe('translatePathInfo', () => {
  it('joins root and path info only under the root', () => {
    assert.equal(translatePathInfo('/var/www', '/a/b'), '/var/www/a/b');
    assert.equal(translatePathInfo('/var/www/', '/a'), '/var/www/a');
    assert.equal(translatePathInfo('/var/www', ''), '');
    assert.equal(translatePathInfo('/var/www', '/../etc/passwd'), '');
    assert.equal(translatePathInfo('/var/www', '/a/./b'), '');
    assert.equal(translatePathInfo('/var/www', 'a'), '');
  });
});

describe('httpd helpers', () => {
  it('canonEncodePath encodes like ap_proxy_canonenc_ex(enc_path)', () => {
    assert.equal(canonEncodePath('/a/b.php'), '/a/b.php');
    assert.equal(canonEncodePath("/~$-_.+!*'(),;:@&="), "/~$-_.+!*'(),;:@&=");
    assert.equal(canonEncodePath('/a b?c#d%e'), '/a%20b%3Fc%23d%25e');
    assert.equal(canonEncodePath('/\xc3\xa9'), '/%C3%A9');
  });

  it('findPathInfo reproduces ap_find_path_info', () => {
    assert.equal(findPathInfo('/app/x.php/a/b.c', '/a/b.c'), '/app/x.php'.length);
    assert.equal(findPathInfo('/app/x.php/a/b.c', '/srv/x.php/a/b.c'), '/app'.length);
    assert.equal(findPathInfo('/x/y', '/x/y'), 0);
    assert.equal(findPathInfo('/app/x', '/zzz'), '/app/x'.length);
  });
});

describe('apacheProxyPaths (ProxyPass /app/ fcgi://h:9000/srv/)', () => {
  const route: ApacheProxyRoute = {
    scheme: 'fcgi',
    host: 'h',
    port: 9000,
    prefix: '/app/',
    backendPath: '/srv/',
    documentRoot: '/var/www',
  };
  const uri = '/app/x.php/a/b.c';

  it('without proxy-fcgi-pathinfo: SCRIPT_NAME is the whole path, FPM SCRIPT_FILENAME', () => {
    assert.deepEqual(apacheProxyPaths(uri, route), {
      scriptName: uri,
      pathInfo: '',
      scriptFilename: 'proxy:fcgi://h:9000/srv/x.php/a/b.c',
      pathTranslated: '',
    });
  });

  it('first-dot: PATH_INFO after the first dot; SCRIPT_FILENAME keeps the tail (2.4 quirk)', () => {
    assert.deepEqual(apacheProxyPaths(uri, { ...route, pathinfo: 'first-dot' }), {
      scriptName: '/app/x.php',
      pathInfo: '/a/b.c',
      scriptFilename: 'proxy:fcgi://h:9000/srv/x.php/a/b.c',
      pathTranslated: '/var/www/a/b.c',
    });
    assert.equal(apacheProxyPaths(uri, { ...route, pathinfo: 'First-Dot' }).pathInfo, '/a/b.c');
  });

  it('last-dot: none when no / follows the last dot', () => {
    const r = apacheProxyPaths(uri, { ...route, pathinfo: 'last-dot' });
    assert.equal(r.pathInfo, '');
    assert.equal(r.scriptName, uri);
    const r2 = apacheProxyPaths('/app/x.php/a.d/b', { ...route, pathinfo: 'last-dot' });
    assert.equal(r2.pathInfo, '/b');
    assert.equal(r2.scriptName, '/app/x.php/a.d');
  });

  it('unescape: / + the whole backend path, decoded', () => {
    const r = apacheProxyPaths('/app/a b.php/c', { ...route, pathinfo: 'unescape' });
    assert.equal(r.pathInfo, '/srv/a b.php/c');
    assert.equal(r.scriptName, '/app');
    assert.equal(r.scriptFilename, 'proxy:fcgi://h:9000/srv/a%20b.php/c');
    assert.equal(r.pathTranslated, '/var/www/srv/a b.php/c');
  });

  it('any other value: / + the whole backend path, still encoded', () => {
    const r = apacheProxyPaths('/app/a b.php/c', { ...route, pathinfo: '1' });
    assert.equal(r.pathInfo, '/srv/a%20b.php/c');
    // httpd compares the decoded URI with the encoded PATH_INFO: the common tail stops early.
    assert.equal(r.scriptName, '/app/a b.php');
    assert.equal(apacheProxyPaths('/app/ab.php/c', { ...route, pathinfo: '1' }).scriptName, '/app');
  });

  it('full: walks the backend path, then under the document root', () => {
    const direct = apacheProxyPaths(uri, { ...route, pathinfo: 'full' }, (f) => f === '/srv/x.php');
    assert.deepEqual(direct, {
      scriptName: '/app/x.php',
      pathInfo: '/a/b.c',
      scriptFilename: '/srv/x.php',
      pathTranslated: '/var/www/a/b.c',
    });
    const rooted = apacheProxyPaths(uri, { ...route, pathinfo: 'full' }, (f) => f === '/var/www/srv/x.php');
    assert.equal(rooted.scriptFilename, '/var/www/srv/x.php');
    assert.equal(rooted.pathInfo, '/a/b.c');
    const none = apacheProxyPaths(uri, { ...route, pathinfo: 'full' }, () => false);
    assert.equal(none.pathInfo, '');
    assert.equal(none.scriptFilename, 'proxy:fcgi://h:9000/srv/x.php/a/b.c');
    assert.deepEqual(apacheProxyPaths(uri, { ...route, pathinfo: 'full' }), apacheProxyPaths(uri, route));
  });

  it('GENERIC strips proxy:fcgi://host:port; default ports and IPv6 as httpd', () => {
    assert.equal(
      apacheProxyPaths(uri, { ...route, backendType: 'GENERIC' }).scriptFilename,
      '/srv/x.php/a/b.c',
    );
    assert.equal(
      apacheProxyPaths(uri, { ...route, port: 8000 }).scriptFilename,
      'proxy:fcgi://h/srv/x.php/a/b.c',
    );
    assert.equal(
      apacheProxyPaths(uri, { ...route, host: '::1', port: 9000 }).scriptFilename,
      'proxy:fcgi://[::1]:9000/srv/x.php/a/b.c',
    );
    assert.equal(apacheProxyPaths('/app/%3F', route).scriptFilename, 'proxy:fcgi://h:9000/srv/%253F');
    assert.equal(apacheProxyPaths('/app/a?b', route).scriptFilename, 'proxy:fcgi://h:9000/srv/a%3Fb');
  });

  it('mod_proxy_scgi: any proxy-scgi-pathinfo value gives / + the encoded path', () => {
    const scgi: ApacheProxyRoute = { ...route, scheme: 'scgi', port: 4000, backendPath: '/' };
    assert.deepEqual(apacheProxyPaths('/app/x/y', { ...scgi, pathinfo: 'first-dot' }), {
      scriptName: '/app',
      pathInfo: '/x/y',
      scriptFilename: 'proxy:scgi://h/x/y',
      pathTranslated: '/var/www/x/y',
    });
    assert.equal(apacheProxyPaths('/app/x/y', scgi).pathInfo, '');
    assert.equal(
      apacheProxyPaths('/app/x', { ...scgi, backendType: 'GENERIC' }).scriptFilename,
      'proxy:scgi://h/x',
    );
  });

  it('refuses a path outside the route prefix', () => {
    assert.throws(() => apacheProxyPaths('/other', route), GatewayError);
  });
});
