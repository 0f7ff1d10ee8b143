import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientRequestError, ConfigError } from '../errors.ts';
import { aliasMatch, compileProxyPass, type ProxyPassSpec } from './proxy-pass.ts';

function table(...rules: ProxyPassSpec[]) {
  return compileProxyPass(rules);
}

function route(rules: ProxyPassSpec[], path: string): [number, string] | undefined {
  const r = table(...rules).match(path);
  return r === undefined ? undefined : [r.index, r.backendPath];
}

describe('alias_match (mod_proxy.c)', () => {
  it('matches on segment boundaries and merges runs of slashes', () => {
    assert.equal(aliasMatch('/app', '/app'), 4);
    assert.equal(aliasMatch('/app/x', '/app'), 4);
    assert.equal(aliasMatch('/apple', '/app'), 0);
    assert.equal(aliasMatch('/app//x', '/app/'), 6);
    assert.equal(aliasMatch('//app/x', '/app/'), 6);
    assert.equal(aliasMatch('/app/x', '/app//'), 5);
    assert.equal(aliasMatch('/x', '/'), 1);
    assert.equal(aliasMatch('/', '/'), 1);
  });

  it('a prefix ending in / does not match the path without it', () => {
    assert.equal(aliasMatch('/scgi-bin', '/scgi-bin/'), 0);
    assert.equal(aliasMatch('/scgi-bin/', '/scgi-bin/'), 10);
    assert.equal(aliasMatch('/', '/examples'), 0);
  });
});

describe('ProxyPass', () => {
  it('backend path = URL path + what the prefix left', () => {
    const rules = [{ path: '/scgi-bin/', url: 'scgi://127.0.0.1:4000/app/' }];
    assert.deepEqual(route(rules, '/scgi-bin/x/y'), [0, '/app/x/y']);
    assert.deepEqual(route(rules, '/scgi-bin/'), [0, '/app/']);
    assert.equal(route(rules, '/scgi-bin'), undefined);
    assert.equal(route(rules, '/scgi-binx'), undefined);
  });

  it('a prefix without a trailing slash takes the slashless path too', () => {
    const rules = [{ path: '/app', url: 'fcgi://h:9000/srv' }];
    assert.deepEqual(route(rules, '/app'), [0, '/srv']);
    assert.deepEqual(route(rules, '/app/x.php'), [0, '/srv/x.php']);
    assert.equal(route(rules, '/apple'), undefined);
  });

  it('the route carries the parsed address and no captures', () => {
    const r = table({ path: '/', url: 'unix:/run/php.sock|fcgi://localhost/var/www/' }).match('/i.php');
    assert.ok(r);
    assert.equal(r.address.transport, 'unix');
    assert.equal(r.address.socketPath, '/run/php.sock');
    assert.equal(r.address.protocol, 'fastcgi');
    assert.equal(r.backendPath, '/var/www/i.php');
    assert.deepEqual(r.captures, []);
  });

  it('the first matching rule in configuration order wins, not the longest', () => {
    const broad = { path: '/', url: 'fcgi://a/' };
    const narrow = { path: '/api/', url: 'fcgi://b/' };
    assert.deepEqual(route([broad, narrow], '/api/x'), [0, '/api/x']);
    assert.deepEqual(route([narrow, broad], '/api/x'), [0, '/x']);
  });

  it('a ! rule that matches first stops the scan with no route', () => {
    const rules = [
      { path: '/app/static/', url: '!' },
      { path: '/app/', url: 'scgi://h/' },
    ];
    assert.equal(route(rules, '/app/static/a.css'), undefined);
    assert.deepEqual(route(rules, '/app/x'), [1, '/x']);
  });
});

describe('ProxyPassMatch', () => {
  it('substitutes $N from the regex into the URL path', () => {
    const t = table({ match: '^/(.*\\.php(/.*)?)$', url: 'fcgi://127.0.0.1:9000/var/www/$1' });
    const r = t.match('/blog/index.php/post/1');
    assert.ok(r);
    assert.equal(r.backendPath, '/var/www/blog/index.php/post/1');
    assert.deepEqual(r.captures, ['/blog/index.php/post/1', 'blog/index.php/post/1', '/post/1']);
    assert.equal(t.match('/blog/a.html'), undefined);
  });

  it('an unmatched group and $0 substitute as expected; \\$ is a literal $', () => {
    const t = table({ match: '^/(a)(b)?/(.*)$', url: 'scgi://h/$2-$0-\\$1' });
    assert.equal(t.match('/a/x')?.backendPath, '/-/a/x-$1');
  });

  it('a URL without substitution gets the whole path appended (httpd: $1 is implied)', () => {
    assert.deepEqual(route([{ match: '\\.gif$', url: 'scgi://h:4000/img' }], '/x/a.gif'), [
      0,
      '/img/x/a.gif',
    ]);
    assert.deepEqual(route([{ match: '\\.gif$', url: 'scgi://h:4000' }], '/x/a.gif'), [0, '/x/a.gif']);
  });

  it('is case-sensitive, and a ! rule excludes', () => {
    const rules = [
      { match: '^/private/', url: '!' },
      { match: '\\.PHP$', url: 'fcgi://h/srv$0' },
    ];
    assert.equal(route(rules, '/private/a.PHP'), undefined);
    assert.equal(route(rules, '/a.php'), undefined);
    assert.deepEqual(route(rules, '/a.PHP'), [1, '/srv.PHP']);
  });

  it('refuses a backend path with a dot segment (404), which a capture can produce', () => {
    const t = table({ match: '^/x(.*)$', url: 'fcgi://h/srv/$1' });
    assert.throws(
      () => t.match('/x../etc/passwd'),
      (err: unknown) =>
        err instanceof ClientRequestError && err.code === 'ERR_UNSAFE_BACKEND_PATH' && err.status === 404,
    );
    assert.throws(() => t.match('/x.'), ClientRequestError);
    assert.equal(t.match('/x.hidden/..x')?.backendPath, '/srv/.hidden/..x');
  });
});

describe('configuration', () => {
  const where = (i: number, key: string) => ({
    file: 'p.yaml',
    line: i + 1,
    column: 1,
    path: `r[${i}].${key}`,
  });

  it('collects every issue with its location', () => {
    const rules: ProxyPassSpec[] = [
      { url: 'fcgi://h/' },
      { path: '/a', match: '^/a', url: 'fcgi://h/' },
      { path: 'a/', url: 'fcgi://h/' },
      { match: 'a(', url: 'fcgi://h/' },
      { path: '/b/', url: 'http://h/' },
      { path: '/c/', url: '127.0.0.1:9000' },
      { path: '/d/', url: 'fcgi://$1/' },
      { path: '/e/', url: 'fcgi://h:9000' },
    ];
    assert.throws(
      () => compileProxyPass(rules, { locate: where }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(
          err.issues.map((i) => [i.path, i.message]),
          [
            ['r[0].path', 'give exactly one of "path" (ProxyPass) and "match" (ProxyPassMatch)'],
            ['r[1].match', 'give exactly one of "path" (ProxyPass) and "match" (ProxyPassMatch)'],
            ['r[2].path', 'ProxyPass path "a/" must start with "/"'],
            [
              'r[3].match',
              'invalid regular expression "a(": Invalid regular expression: /a(/: Unterminated group',
            ],
            [
              'r[4].url',
              'unsupported scheme "http://" in backend address: Portico speaks scgi:// and fcgi:// only',
            ],
            [
              'r[5].url',
              '"127.0.0.1:9000" needs a scheme: scgi://host[:port]/path, fcgi://host[:port]/path or balancer://NAME/path',
            ],
            [
              'r[6].url',
              'backend URL "fcgi://$1/": a $N substitution may appear only in the path, never in the host or port (CVE-2021-40438)',
            ],
            [
              'r[7].url',
              '"fcgi://h:9000" has no path while "/e/" ends with "/": the remainder would be joined without a "/" (write the URL with a trailing "/")',
            ],
          ],
        );
        return true;
      },
    );
  });

  it('warns about mismatched trailing slashes, $N in ProxyPass, and groups the regex lacks', () => {
    const t = compileProxyPass(
      [
        { path: '/a', url: 'fcgi://h/srv/' },
        { path: '/b/', url: 'fcgi://h/srv' },
        { path: '/c/', url: 'fcgi://h/$1/' },
        { match: '^/(d)$', url: 'fcgi://h/$1/$2' },
        { path: '/ok/', url: 'fcgi://h/fine/' },
        { path: '/ok2', url: 'fcgi://h' },
      ],
      { locate: where },
    );
    assert.deepEqual(
      t.warnings.map((w) => w.path),
      ['r[0].url', 'r[1].url', 'r[2].url', 'r[3].url'],
    );
    assert.match(t.warnings[0]!.message, /should both end with "\/" or both not/);
    assert.match(t.warnings[2]!.message, /ProxyPass does not substitute \$N/);
    assert.equal(t.warnings[3]!.message, '$2 refers to a group the regex does not have; it is always empty');
    // httpd's behaviour is kept: the slash is doubled or lost as configured.
    assert.equal(t.match('/a/x')?.backendPath, '/srv//x');
    assert.equal(t.match('/b/x')?.backendPath, '/srvx');
    assert.equal(t.match('/ok2/x')?.backendPath, '/x');
  });
});
