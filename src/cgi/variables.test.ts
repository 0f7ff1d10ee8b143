// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${name}` is nginx template syntax under test
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientRequestError, ConfigError, GatewayError } from '../errors.ts';
import { makeRequestFacts, type RequestFacts } from './request-facts.ts';
import {
  checkTemplate,
  compileTemplate,
  type LocationContext,
  lookupVariable,
  PORTICO_VERSION,
  parseHost,
  VariableContext,
} from './variables.ts';

function evaluate(source: string, facts: Partial<RequestFacts> = {}, location?: LocationContext): string {
  return compileTemplate(source).evaluate(new VariableContext(makeRequestFacts(facts), location));
}

describe('parseHost (ngx_http_validate_host)', () => {
  it('lower-cases, strips the port and a trailing dot', () => {
    assert.deepEqual(parseHost('Example.COM'), { host: 'example.com', port: 0 });
    assert.deepEqual(parseHost('example.com.:8080'), { host: 'example.com', port: 8080 });
    assert.deepEqual(parseHost('h:'), { host: 'h', port: 0 });
    assert.deepEqual(parseHost('[::1]:443'), { host: '[::1]', port: 443 });
    assert.deepEqual(parseHost('[FE80::1]'), { host: '[fe80::1]', port: 0 });
    assert.deepEqual(parseHost('a_b~c!$&.x'), { host: 'a_b~c!$&.x', port: 0 });
    assert.deepEqual(parseHost('h:65535'), { host: 'h', port: 65535 });
  });

  it('refuses what nginx answers 400 to', () => {
    for (const bad of [
      '',
      '.',
      'a..b',
      'a/b',
      'a b',
      'h:65536',
      'h:8x',
      '[::1',
      '[::1]x',
      'h@x',
      'caf\xe9',
      ':80',
      '[::1]%',
    ]) {
      assert.equal(parseHost(bad), null, bad);
    }
  });
});

describe('variables', () => {
  const facts: Partial<RequestFacts> = {
    method: 'POST',
    rawTarget: '/a%20b/x.php/p?Q=1&arg=2&x=',
    https: true,
    scheme: 'https',
    headers: [
      'Host',
      'Example.com:8443',
      'X-Multi',
      'a',
      'x-multi',
      'b',
      'Cookie',
      'sid=1; Theme = dark ;x=y',
      'Cookie',
      'late=2',
    ],
    serverName: 'srv',
    serverAddr: '::1',
    serverPort: '8443',
    remoteAddr: '2001:db8::7',
    remotePort: '50000',
    serverProtocol: 'HTTP/2.0',
    contentLength: '12',
    contentType: 'text/plain',
    documentRoot: '/var/www',
    requestId: 'rid',
    hostname: 'box',
    captures: ['/a b/x.php', 'a b', undefined, 'three'],
  };
  const table: Array<[string, string]> = [
    ['$request_uri', '/a%20b/x.php/p?Q=1&arg=2&x='],
    ['$uri', '/a b/x.php/p'],
    ['$document_uri', '/a b/x.php/p'],
    ['$args', 'Q=1&arg=2&x='],
    ['$query_string', 'Q=1&arg=2&x='],
    ['$is_args', '?'],
    ['$request_method', 'POST'],
    ['$content_type', 'text/plain'],
    ['$content_length', '12'],
    ['$scheme', 'https'],
    ['$https', 'on'],
    ['$host', 'example.com'],
    ['$hostname', 'box'],
    ['$server_name', 'srv'],
    ['$server_addr', '::1'],
    ['$server_port', '8443'],
    ['$server_protocol', 'HTTP/2.0'],
    ['$remote_addr', '2001:db8::7'],
    ['$remote_port', '50000'],
    ['$document_root', '/var/www'],
    ['$request_filename', '/var/www/a b/x.php/p'],
    ['$fastcgi_script_name', '/a b/x.php/p'],
    ['$fastcgi_path_info', ''],
    ['$request_id', 'rid'],
    ['$is_request_port$request_port', ':8443'],
    ['$http_x_multi', 'a, b'],
    ['$http_cookie', 'sid=1; Theme = dark ;x=y; late=2'],
    ['$http_host', 'Example.com:8443'],
    ['$http_absent', ''],
    ['$cookie_sid', '1'],
    ['$cookie_theme', 'dark '],
    ['$cookie_x', 'y'],
    ['$cookie_late', '2'],
    ['$cookie_none', ''],
    ['$arg_q', '1'],
    ['$arg_arg', '2'],
    ['$arg_x', ''],
    ['$arg_rg', ''],
    ['$1|$2|$3|$4|$9', 'a b||three||'],
    ['$request_target', '/a%20b/x.php/p?Q=1&arg=2&x='],
    ['$apache_server_name', 'example.com'],
    ['$apache_server_port', '8443'],
    ['$script_filename', '/var/www/a b/x.php/p'],
    ['$path_translated', ''],
    ['portico/$portico_version', `portico/${PORTICO_VERSION}`],
  ];
  for (const [source, expected] of table) {
    it(`${source} = ${JSON.stringify(expected)}`, () => assert.equal(evaluate(source, facts), expected));
  }

  it('$request_filename under a prefix location alias: alias + $uri after the prefix (nginx)', () => {
    const alias = { text: '/data/assets/', prefix: '/static/' };
    const f = { documentRoot: '/data/assets', alias, path: '/static/css/app.css' };
    assert.equal(evaluate('$request_filename', f), '/data/assets/css/app.css');
    assert.equal(evaluate('$document_root', f), '/data/assets');
    // nginx's famous slash mismatch is kept as nginx maps it: alias /data/x + /i/a = /data/xa.
    const g = { documentRoot: '/data/x', alias: { text: '/data/x', prefix: '/i/' }, path: '/i/a' };
    assert.equal(evaluate('$request_filename', g), '/data/xa');
    // A $uri that no longer starts with the prefix (an internal redirect): root-like.
    assert.equal(evaluate('$request_filename', { ...f, path: '/index.php' }), '/data/assets/index.php');
  });

  it('$realpath_root resolves symlinks of the root per request; an unresolvable root is a 500', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-realpath-'));
    try {
      mkdirSync(join(dir, 'releases', '1'), { recursive: true });
      mkdirSync(join(dir, 'releases', '2'));
      symlinkSync('releases/1', join(dir, 'current'));
      const template = compileTemplate('$realpath_root|$document_root');
      const ctx = () => new VariableContext(makeRequestFacts({ documentRoot: join(dir, 'current') }));
      const real = realpathSync(dir);
      assert.equal(template.evaluate(ctx()), `${real}/releases/1|${dir}/current`);
      // A deploy switches the link: the next request sees the new release.
      unlinkSync(join(dir, 'current'));
      symlinkSync('releases/2', join(dir, 'current'));
      assert.equal(template.evaluate(ctx()), `${real}/releases/2|${dir}/current`);
      unlinkSync(join(dir, 'current'));
      assert.throws(
        () => template.evaluate(ctx()),
        (e: unknown) => e instanceof GatewayError && e.status === 500 && /realpath/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('$is_args, $https and the request port are empty when absent', () => {
    assert.equal(
      evaluate('[$is_args][$https][$is_request_port][$request_port]', { rawTarget: '/x?' }),
      '[][][][]',
    );
    assert.equal(evaluate('$apache_server_port', {}), '80');
    assert.equal(evaluate('$apache_server_port', { https: true, scheme: 'https' }), '443');
  });

  it('$host comes from an absolute-form target first, else Host, else the server name', () => {
    assert.equal(
      evaluate('$host', { rawTarget: 'http://ABS.example:81/x', headers: ['Host', 'other'] }),
      'abs.example',
    );
    assert.equal(evaluate('$request_port', { rawTarget: 'http://ABS.example:81/x' }), '81');
    assert.equal(evaluate('$host', { headers: [], host: '', serverName: 'fallback' }), 'fallback');
    assert.equal(evaluate('$host', { host: '[::1]:80' }), '[::1]');
    assert.equal(evaluate('$apache_server_name', { host: 'a&b' }), 'a&amp;b');
  });

  it('an invalid Host is a 400 when $host is evaluated', () => {
    assert.throws(
      () => evaluate('$host', { host: 'bad host' }),
      (e: unknown) => e instanceof ClientRequestError && e.status === 400,
    );
  });

  it('the location context supplies the split and the root', () => {
    const loc = { documentRoot: '/srv', scriptName: '/x.php', pathInfo: '/p/q' };
    assert.equal(
      evaluate('$document_root$fastcgi_script_name|$fastcgi_path_info', {}, loc),
      '/srv/x.php|/p/q',
    );
    assert.equal(
      evaluate('$script_name|$path_info|$script_filename|$path_translated', {}, loc),
      '/x.php|/p/q|/srv/x.php|/srv/p/q',
    );
    const apache = {
      scriptName: '/app',
      pathInfo: '/../x',
      scriptFilename: 'proxy:fcgi://h/x',
      pathTranslated: '',
    };
    assert.equal(evaluate('$script_filename|$path_translated', {}, apache), 'proxy:fcgi://h/x|');
    assert.equal(evaluate('$path_translated', {}, { pathInfo: '/../x' }), '');
  });
});

describe('templates', () => {
  it('parses $name, ${name} and $1..$9 like ngx_http_script_compile', () => {
    const f = { rawTarget: '/u?a=1', captures: ['', 'one'] };
    assert.equal(evaluate('${uri}x', f), '/ux');
    assert.equal(evaluate('$uri.x|$uri/$args|$1x', f), '/u.x|/u/a=1|onex');
  });

  it('rejects unknown variables, a lone $, an empty name and a missing }', () => {
    for (const [source, message] of [
      ['$urix', 'unknown variable "$urix"'],
      ['$nginx_version', 'unknown variable "$nginx_version"'],
      ['a$', 'invalid variable name'],
      ['$-x', 'invalid variable name'],
      ['${}', 'invalid variable name'],
      ['${uri', 'closing bracket'],
      ['${uri-x}', 'closing bracket'],
      ['$http_', 'unknown variable'],
    ] as const) {
      const { template, problems } = checkTemplate(source);
      assert.equal(template, undefined, source);
      assert.ok(problems[0]?.message.includes(message), `${source}: ${problems[0]?.message}`);
    }
    const { problems } = checkTemplate('$a $b $uri');
    assert.deepEqual(
      problems.map((p) => p.offset),
      [0, 3],
    );
    assert.throws(
      () => compileTemplate('$nope', { file: 'c.yaml', line: 7, column: 2, path: 'params.X' }),
      (e: unknown) => e instanceof ConfigError && e.issues[0]?.line === 7 && e.issues[0]?.path === 'params.X',
    );
  });

  it('digits: $1 takes one digit, ${1} works, $0 is unknown', () => {
    const f = { captures: ['all', 'one', 'two'] };
    assert.equal(evaluate('$12', f), 'one2');
    assert.equal(evaluate('${2}x', f), 'twox');
    assert.equal(checkTemplate('$0').template, undefined);
  });

  it('names are case-insensitive', () => {
    assert.equal(evaluate('$URI|$Http_X_A', { rawTarget: '/z', headers: ['x-a', 'v'] }), '/z|v');
  });

  it('knows literal templates and folds constants', () => {
    const lit = compileTemplate('CGI/1.1');
    assert.equal(lit.isLiteral, true);
    assert.equal(compileTemplate('').isLiteral, true);
    assert.equal(compileTemplate('').evaluate(new VariableContext(makeRequestFacts())), '');
    const sw = compileTemplate('portico/$portico_version');
    assert.equal(sw.isLiteral, false);
    assert.deepEqual(sw.variables, ['portico_version']);
    assert.deepEqual(compileTemplate('$document_root$fastcgi_script_name').variables, [
      'document_root',
      'fastcgi_script_name',
    ]);
  });

  it('gives the value of a template that depends on no request as its constant', () => {
    assert.equal(compileTemplate('CGI/1.1').constant, 'CGI/1.1');
    assert.equal(compileTemplate('').constant, '');
    assert.equal(compileTemplate('portico/$portico_version').constant, `portico/${PORTICO_VERSION}`);
    assert.equal(
      compileTemplate('${portico_version}x$portico_version').constant,
      `${PORTICO_VERSION}x${PORTICO_VERSION}`,
    );
    for (const source of ['$uri', 'a$uri', '$uri/b', '$1', '$http_x', '$portico_version$host']) {
      assert.equal(compileTemplate(source).constant, undefined, source);
    }
  });

  it('evaluates many-part templates', () => {
    assert.equal(evaluate('<$request_method $uri?$args>', { rawTarget: '/p?q' }), '<GET /p?q>');
  });

  it('lookupVariable covers the prefixes', () => {
    for (const n of ['http_x', 'cookie_x', 'arg_x', '1', '9', 'uri']) assert.ok(lookupVariable(n), n);
    for (const n of ['0', '10', 'http_', 'cookie_', 'arg_', 'sent_http_x'])
      assert.equal(lookupVariable(n), undefined, n);
  });
});
