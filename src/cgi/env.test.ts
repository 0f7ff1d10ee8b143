import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../errors.ts';
import type { Param } from '../protocol/params.ts';
import { Prng } from '../util/prng.ts';
import {
  buildEnv,
  type CompileParamsOptions,
  compileParams,
  connectionOptionNames,
  headerEnvName,
  type ParamSpec,
} from './env.ts';
import { makeRequestFacts, type RequestFacts } from './request-facts.ts';
import { compileSplitPathInfo, splitPathInfo } from './path.ts';
import { APACHE_COMPILE_OPTIONS, apacheParams, FASTCGI_CONF, SCGI_PARAMS } from './stock-params.ts';
import { PORTICO_VERSION, VariableContext } from './variables.ts';

function env(
  list: readonly ParamSpec[],
  facts: Partial<RequestFacts>,
  options?: CompileParamsOptions,
): Param[] {
  return buildEnv(compileParams(list, options), new VariableContext(makeRequestFacts(facts)));
}

const p = (name: string, value: string, ifNotEmpty = false): ParamSpec => ({ name, value, ifNotEmpty });

describe('compileParams / buildEnv rules (nginx B.1)', () => {
  it('sends params in order, empty values included, if_not_empty left out', () => {
    const list = [
      p('A', '$content_type'),
      p('B', '$https', true),
      p('C', 'x'),
      p('D', '$content_type', true),
    ];
    assert.deepEqual(env(list, { headers: [] }, { builtinHost: false }), [
      ['A', ''],
      ['C', 'x'],
    ]);
  });

  it('adds the built-in HTTP_HOST ($host$is_request_port$request_port) after the params', () => {
    assert.deepEqual(env([p('A', '1')], { headers: ['Host', 'Ex.COM:81', 'X-A', 'v'] }), [
      ['A', '1'],
      ['HTTP_HOST', 'ex.com:81'],
      ['HTTP_X_A', 'v'],
    ]);
    // if_not_empty: no Host and no server name -> not sent.
    assert.deepEqual(env([], { headers: [], host: '', serverName: '' }), []);
  });

  it('a configured HTTP_HOST replaces the built-in and the client header', () => {
    assert.deepEqual(env([p('HTTP_HOST', '$http_host')], { headers: ['Host', 'Ex.COM:81'] }), [
      ['HTTP_HOST', 'Ex.COM:81'],
    ]);
    // The empty literal removes both (nginx init-params rule).
    assert.deepEqual(env([p('HTTP_HOST', '')], { headers: ['Host', 'h', 'A', 'b'] }), [['HTTP_A', 'b']]);
    // Case-insensitive against the built-in, case-sensitive HTTP_ prefix for hiding headers.
    assert.deepEqual(env([p('http_host', 'x')], { headers: ['Host', 'h'] }), [
      ['http_host', 'x'],
      ['HTTP_HOST', 'h'],
    ]);
  });

  it('an HTTP_* param hides the client header of that name; an empty literal hides both', () => {
    const facts = { headers: ['Host', 'h', 'X-Blah', 'client', 'x-secret', 's', 'X-Keep', 'k'] };
    assert.deepEqual(env([p('HTTP_X_BLAH', 'blah'), p('HTTP_X_SECRET', '')], facts), [
      ['HTTP_X_BLAH', 'blah'],
      ['HTTP_HOST', 'h'],
      ['HTTP_X_KEEP', 'k'],
    ]);
    // A variable that evaluates empty is not the empty literal: sent empty, header still hidden.
    assert.deepEqual(env([p('HTTP_X_BLAH', '$content_type')], { ...facts, headers: ['X-Blah', 'c'] }), [
      ['HTTP_X_BLAH', ''],
      ['HTTP_HOST', 'localhost'],
    ]);
    // Lower-case suffix still matches (nginx compares header names case-insensitively).
    assert.deepEqual(env([p('HTTP_x_blah', 'p')], { headers: ['X-Blah', 'c'] }), [
      ['HTTP_x_blah', 'p'],
      ['HTTP_HOST', 'localhost'],
    ]);
  });

  it('never passes Proxy (httpoxy), Content-Type/-Length or Transfer-Encoding as HTTP_*', () => {
    const headers = [
      'Host',
      'h',
      'Proxy',
      'http://evil:3128',
      'PROXY',
      'x',
      'Content-Type',
      'text/plain',
      'Content-Length',
      '3',
      'Transfer-Encoding',
      'chunked',
    ];
    assert.deepEqual(
      env([p('CONTENT_TYPE', '$content_type'), p('CONTENT_LENGTH', '$content_length')], {
        headers,
        contentLength: '3',
        contentType: 'text/plain',
      }),
      [
        ['CONTENT_TYPE', 'text/plain'],
        ['CONTENT_LENGTH', '3'],
        ['HTTP_HOST', 'h'],
      ],
    );
    // Only an explicit param can use the name (an admin's opt-out).
    assert.deepEqual(env([p('HTTP_PROXY', '$http_proxy')], { headers: ['Proxy', 'p'] }), [
      ['HTTP_PROXY', 'p'],
      ['HTTP_HOST', 'localhost'],
    ]);
  });

  it('never passes hop-by-hop headers (RFC 9110 7.6.1), whatever their case', () => {
    const headers = [
      'Host',
      'h',
      'Connection',
      'keep-alive',
      'keep-alive',
      'timeout=5',
      'TE',
      'trailers',
      'Trailer',
      'Expires',
      'upgrade',
      'h2c',
      'Proxy-Connection',
      'keep-alive',
      'X-Keep',
      'k',
    ];
    assert.deepEqual(env([], { headers }), [
      ['HTTP_HOST', 'h'],
      ['HTTP_X_KEEP', 'k'],
    ]);
    // An explicit param may still send one (an admin's choice, as for HTTP_PROXY).
    assert.deepEqual(env([p('HTTP_CONNECTION', '$http_connection')], { headers }, { builtinHost: false }), [
      ['HTTP_CONNECTION', 'keep-alive'],
      ['HTTP_HOST', 'h'],
      ['HTTP_X_KEEP', 'k'],
    ]);
  });

  it('never passes the headers a Connection header names, before or after it', () => {
    const headers = [
      'X-Before',
      'b',
      'Host',
      'h',
      'connection',
      ' close ,\tX-Before,,x-after , Bad_Token',
      'X-After',
      'a',
      'X-Kept',
      'k',
      'Close',
      'c',
      'Connection',
      'X-Second',
      'X-Second',
      's',
      'Bad_Token',
      'v',
    ];
    assert.deepEqual(env([], { headers }), [
      ['HTTP_HOST', 'h'],
      ['HTTP_X_KEPT', 'k'],
    ]);
  });

  it('a Connection header never hides params: Host, Content-Type stay', () => {
    const headers = [
      'Host',
      'Ex.com',
      'Content-Type',
      't',
      'Connection',
      'Host, Content-Type, Cookie',
      'Cookie',
      'a=1',
    ];
    assert.deepEqual(env([p('CONTENT_TYPE', '$content_type')], { headers, contentType: 't' }), [
      ['CONTENT_TYPE', 't'],
      ['HTTP_HOST', 'ex.com'],
    ]);
  });

  it('connectionOptionNames: tokens as HTTP_* names, deduplicated; random values never break it', () => {
    assert.deepEqual(connectionOptionNames('close'), ['HTTP_CLOSE']);
    assert.deepEqual(connectionOptionNames('Keep-Alive, Upgrade'), ['HTTP_KEEP_ALIVE', 'HTTP_UPGRADE']);
    assert.deepEqual(connectionOptionNames('a, A ,\ta'), ['HTTP_A']);
    assert.deepEqual(connectionOptionNames(''), []);
    assert.deepEqual(connectionOptionNames(' , ,'), []);
    assert.deepEqual(connectionOptionNames('x y, z'), ['HTTP_Z']);
    const long = `${'x-'.repeat(100)}a`;
    assert.deepEqual(connectionOptionNames(long), [`HTTP_${'X_'.repeat(100)}A`]);
    const prng = new Prng();
    for (let i = 0; i < 3000; i++) {
      const value = prng.bytes(prng.int(0, 40)).toString('latin1');
      const names = connectionOptionNames(value);
      const expected = [
        ...new Set(
          value
            .split(',')
            .map((t) => t.replace(/^[ \t]+|[ \t]+$/g, ''))
            .filter((t) => /^[A-Za-z0-9-]+$/.test(t))
            .map((t) => `HTTP_${t.toUpperCase().replaceAll('-', '_')}`),
        ),
      ];
      assert.deepEqual(names, expected, `seed ${prng.seed}`);
      assert.deepEqual(connectionOptionNames(value), names);
    }
  });

  it('drops header names with bytes outside [A-Za-z0-9-] (E14)', () => {
    const headers = [
      'X_Forwarded_For',
      'spoof',
      'X-Forwarded-For',
      '1.2.3.4',
      'X.Y',
      'z',
      'X Y',
      'z',
      'X-\xe9',
      'z',
      'X-9',
      'ok',
    ];
    assert.deepEqual(env([], { headers }), [
      ['HTTP_HOST', 'localhost'],
      ['HTTP_X_FORWARDED_FOR', '1.2.3.4'],
      ['HTTP_X_9', 'ok'],
    ]);
  });

  it('merges repeated headers at the first place: `, `, Cookie `; `', () => {
    const headers = [
      'Cookie',
      'a=1',
      'X-A',
      '1',
      'Host',
      'h',
      'x-a',
      '2',
      'cookie',
      'b=2',
      'Proxy',
      'p',
      'X-A',
      '3',
    ];
    assert.deepEqual(env([], { headers }), [
      ['HTTP_HOST', 'h'],
      ['HTTP_COOKIE', 'a=1; b=2'],
      ['HTTP_X_A', '1, 2, 3'],
    ]);
  });

  it('merges repeats the same way with many distinct headers (scan, then Map)', () => {
    const headers: string[] = [];
    const expected: Param[] = [['HTTP_HOST', 'localhost']];
    for (let i = 0; i < 60; i++) {
      headers.push(`X-H${i}`, `a${i}`);
      expected.push([`HTTP_X_H${i}`, `a${i}, b${i}`]);
    }
    for (let i = 59; i >= 0; i--) headers.push(`x-h${i}`, `b${i}`);
    assert.deepEqual(env([], { headers }), expected);
  });

  it('pass_request_headers off: no client headers, the built-in HTTP_HOST stays', () => {
    assert.deepEqual(
      env([p('A', '1')], { headers: ['Host', 'h', 'X', 'y'] }, { passRequestHeaders: false }),
      [
        ['A', '1'],
        ['HTTP_HOST', 'h'],
      ],
    );
  });

  it('passAuthorization off (httpd without CGIPassAuth) hides Authorization headers', () => {
    const headers = ['Authorization', 'Basic x', 'Proxy-Authorization', 'y', 'X', 'z'];
    assert.deepEqual(env([], { headers }, { passAuthorization: false, builtinHost: false }), [
      ['HTTP_X', 'z'],
    ]);
    assert.deepEqual(env([], { headers }, { builtinHost: false }), [
      ['HTTP_AUTHORIZATION', 'Basic x'],
      ['HTTP_PROXY_AUTHORIZATION', 'y'],
      ['HTTP_X', 'z'],
    ]);
  });

  it('a name configured twice is sent once: the last definition in the first place', () => {
    const list = [
      p('SCRIPT_FILENAME', '$document_root$fastcgi_script_name'),
      p('A', '1'),
      p('SCRIPT_FILENAME', '/fixed'),
    ];
    assert.deepEqual(env(list, { headers: [] }), [
      ['SCRIPT_FILENAME', '/fixed'],
      ['A', '1'],
      ['HTTP_HOST', 'localhost'],
    ]);
    // The last one's if_not_empty applies.
    assert.deepEqual(env([p('B', 'x'), p('B', '$https', true)], { headers: [] }, { builtinHost: false }), []);
    // An HTTP_* empty literal redefined with a value is sent; the reverse is not.
    assert.deepEqual(
      env([p('HTTP_X', ''), p('HTTP_X', 'v')], { headers: ['X', 'c'] }, { builtinHost: false }),
      [['HTTP_X', 'v']],
    );
    assert.deepEqual(
      env([p('HTTP_X', 'v'), p('HTTP_X', '')], { headers: ['X', 'c'] }, { builtinHost: false }),
      [],
    );
  });

  it('refuses bad names and unknown variables with one ConfigError listing all', () => {
    const where = { file: 'portico.yaml', line: 12, column: 7, path: 'locations[1].fastcgi.params' };
    assert.throws(
      () =>
        compileParams([p('', 'x'), p('A=B', 'x'), p('OK', '$nope'), p('NUL\0', 'x'), p('GOOD', '$uri')], {
          where,
        }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        const issue = e.issues[0]!;
        assert.equal(issue.file, 'portico.yaml');
        assert.equal(issue.path, 'locations[1].fastcgi.params');
        for (const part of ['empty', '"A=B"', '$nope', 'NUL']) assert.ok(issue.message.includes(part), part);
        return true;
      },
    );
  });

  it('constant params are one frozen pair shared by every env of the location', () => {
    const compiled = compileParams([p('A', 'CGI/1.1'), p('B', 'portico/$portico_version'), p('C', '$uri')]);
    const one = buildEnv(compiled, new VariableContext(makeRequestFacts({ rawTarget: '/x' })));
    const two = buildEnv(compiled, new VariableContext(makeRequestFacts({ rawTarget: '/y' })));
    assert.deepEqual(one.slice(0, 3), [
      ['A', 'CGI/1.1'],
      ['B', `portico/${PORTICO_VERSION}`],
      ['C', '/x'],
    ]);
    assert.equal(one[0], two[0]);
    assert.equal(one[1], two[1]);
    assert.notEqual(one[2], two[2]);
    assert.ok(Object.isFrozen(one[0]));
    // A constant '' with if_not_empty is never sent; without it, always.
    assert.deepEqual(env([p('E', '', true), p('F', '')], { headers: [] }, { builtinHost: false }), [
      ['F', ''],
    ]);
  });

  it('client headers: the same env as the rule read literally, for random headers and Connection lists', () => {
    // The rules of the module comment, written the plain way: listed names first, then one
    // pass that skips and merges.
    const reference = (list: ParamSpec[], headers: string[], options: CompileParamsOptions): Param[] => {
      const compiled = compileParams(list, options);
      const out = buildEnv(
        { ...compiled, passRequestHeaders: false },
        new VariableContext(makeRequestFacts({ headers })),
      );
      const listed = new Set<string>();
      for (let i = 0; i < headers.length; i += 2) {
        if (headerEnvName(headers[i]!) === 'HTTP_CONNECTION') {
          for (const n of connectionOptionNames(headers[i + 1]!)) listed.add(n);
        }
      }
      const at = new Map<string, number>();
      for (let i = 0; i < headers.length; i += 2) {
        const name = headerEnvName(headers[i]!);
        if (name === null || compiled.hiddenHeaders.has(name) || listed.has(name)) continue;
        const seen = at.get(name);
        if (seen === undefined) {
          at.set(name, out.length);
          out.push([name, headers[i + 1]!]);
        } else {
          out[seen] = [name, `${out[seen]![1]}${name === 'HTTP_COOKIE' ? '; ' : ', '}${headers[i + 1]}`];
        }
      }
      return out;
    };
    const names = [
      'Host',
      'Cookie',
      'Connection',
      'connection',
      'X-A',
      'x-a',
      'X-B',
      'Keep-Alive',
      'Upgrade',
    ];
    const prng = new Prng();
    for (let round = 0; round < 400; round++) {
      const headers: string[] = [];
      const count = prng.int(0, round % 10 === 0 ? 60 : 12);
      for (let i = 0; i < count; i++) {
        const name = prng.next() < 0.7 ? names[prng.int(0, names.length - 1)]! : `X-${prng.int(0, 40)}`;
        const value =
          name.toLowerCase() === 'connection'
            ? [0, 1, 2]
                .map(() =>
                  prng.next() < 0.5 ? names[prng.int(0, names.length - 1)] : `x-${prng.int(0, 40)}`,
                )
                .join(', ')
            : String(prng.int(0, 99));
        headers.push(name, value);
      }
      const list = prng.next() < 0.5 ? [p('HTTP_X_A', 'param')] : [];
      const options = prng.next() < 0.5 ? {} : { builtinHost: false };
      assert.deepEqual(
        env(list, { headers }, options),
        reference(list, headers, options),
        `seed ${prng.seed} round ${round}: ${JSON.stringify(headers)}`,
      );
    }
  });

  it('headerEnvName maps and caches; random names never break it', () => {
    assert.equal(headerEnvName('user-agent'), 'HTTP_USER_AGENT');
    assert.equal(headerEnvName('User-Agent'), 'HTTP_USER_AGENT');
    assert.equal(headerEnvName('x_y'), null);
    assert.equal(headerEnvName(''), null);
    const prng = new Prng();
    for (let i = 0; i < 6000; i++) {
      const name = prng.bytes(prng.int(1, 12)).toString('latin1');
      const mapped = headerEnvName(name);
      const valid = /^[A-Za-z0-9-]+$/.test(name);
      assert.equal(
        mapped,
        valid ? `HTTP_${name.toUpperCase().replaceAll('-', '_')}` : null,
        `seed ${prng.seed}`,
      );
      assert.equal(headerEnvName(name), mapped);
    }
  });

  it('the apache set: raw Host, Content-* as CONTENT_*, Authorization held back', () => {
    const list = apacheParams({ protocol: 'scgi' });
    const out = env(
      list,
      {
        rawTarget: '/app/x?y=1',
        headers: [
          'Host',
          'Ex.com:81',
          'Authorization',
          'a',
          'Content-Type',
          't',
          'Cookie',
          'a=1',
          'Cookie',
          'b=2',
        ],
        contentType: 't',
      },
      APACHE_COMPILE_OPTIONS,
    );
    const map = new Map(out);
    assert.equal(map.get('HTTP_HOST'), 'Ex.com:81');
    assert.equal(map.get('SERVER_NAME'), 'ex.com');
    assert.equal(map.get('SERVER_PORT'), '81');
    assert.equal(map.get('CONTENT_TYPE'), 't');
    assert.equal(map.has('CONTENT_LENGTH'), false);
    assert.equal(map.has('HTTP_AUTHORIZATION'), false);
    assert.equal(map.has('GATEWAY_INTERFACE'), false);
    assert.equal(map.get('REQUEST_URI'), '/app/x?y=1');
    assert.equal(map.get('QUERY_STRING'), 'y=1');
    assert.equal(map.get('HTTP_COOKIE'), 'a=1; b=2');
    assert.equal(out.length, map.size);
  });
});

// ---------------------------------------------------------------------------------------------
// The request table: what the stock scgi_params and fastcgi.conf sets produce, derived from
// nginx's rules (B.1, nginx >= 1.29.5 HTTP_HOST, >= 1.23 header merging). `nginxDiffers`
// marks where Portico deliberately differs from nginx, for the check against a real nginx.

const ROOT = '/srv/portico-test';
const SPLIT = compileSplitPathInfo('^(.+?\\.php)(/.*)$');

interface TableCase {
  readonly name: string;
  readonly method?: string;
  readonly target: string;
  /** node:http rawHeaders. */
  readonly headers: readonly string[];
  readonly https?: boolean;
  readonly protocol?: string;
  readonly remote?: readonly [addr: string, port: string];
  /** facts.host when it does not come from a Host header (HTTP/2 :authority). */
  readonly host?: string;
  /** facts.contentLength when it is not the Content-Length header (spooled chunked body). */
  readonly contentLength?: string;
  /** fastcgi_split_path_info ^(.+?\.php)(/.*)$; fastcgi_index index.php; PATH_INFO param. */
  readonly split?: boolean;
  readonly expect: {
    readonly uri: string;
    readonly requestUri?: string;
    readonly args?: string;
    readonly contentType?: string;
    readonly contentLength?: string;
    readonly script?: string;
    readonly pathInfo?: string;
    /** Built-in HTTP_HOST, then the client headers. */
    readonly tail: readonly Param[];
  };
  readonly nginxDiffers?: string;
}

const HOST: Param = ['HTTP_HOST', 'localhost'];

const TABLE: readonly TableCase[] = [
  { name: 'GET /', target: '/', headers: ['Host', 'localhost'], expect: { uri: '/', tail: [HOST] } },
  {
    name: 'query and common headers',
    target: '/index.php?a=1&b=2',
    headers: ['Host', 'localhost', 'User-Agent', 'curl/8.5', 'Accept', '*/*'],
    expect: {
      uri: '/index.php',
      args: 'a=1&b=2',
      tail: [HOST, ['HTTP_USER_AGENT', 'curl/8.5'], ['HTTP_ACCEPT', '*/*']],
    },
  },
  {
    name: 'HEAD',
    method: 'HEAD',
    target: '/x',
    headers: ['Host', 'localhost'],
    expect: { uri: '/x', tail: [HOST] },
  },
  {
    name: 'POST form',
    method: 'POST',
    target: '/form.php',
    headers: [
      'Host',
      'localhost',
      'Content-Type',
      'application/x-www-form-urlencoded',
      'Content-Length',
      '11',
    ],
    expect: {
      uri: '/form.php',
      contentType: 'application/x-www-form-urlencoded',
      contentLength: '11',
      tail: [HOST],
    },
    nginxDiffers: 'nginx also sends HTTP_CONTENT_TYPE and HTTP_CONTENT_LENGTH',
  },
  {
    name: 'PUT empty body',
    method: 'PUT',
    target: '/r',
    headers: ['Host', 'localhost', 'Content-Length', '0'],
    expect: { uri: '/r', contentLength: '0', tail: [HOST] },
    nginxDiffers: 'nginx also sends HTTP_CONTENT_LENGTH',
  },
  {
    name: 'DELETE with query',
    method: 'DELETE',
    target: '/item/7?force=1',
    headers: ['Host', 'localhost'],
    expect: { uri: '/item/7', args: 'force=1', tail: [HOST] },
  },
  {
    name: 'OPTIONS',
    method: 'OPTIONS',
    target: '/api',
    headers: ['Host', 'localhost'],
    expect: { uri: '/api', tail: [HOST] },
  },
  {
    name: 'chunked PATCH, spooled',
    method: 'PATCH',
    target: '/p',
    headers: ['Host', 'localhost', 'Transfer-Encoding', 'chunked'],
    contentLength: '5',
    expect: { uri: '/p', contentLength: '5', tail: [HOST] },
    nginxDiffers: 'nginx also sends HTTP_TRANSFER_ENCODING: chunked',
  },
  {
    name: 'encoded path and slash',
    target: '/a%20b/c%2Fd',
    headers: ['Host', 'localhost'],
    expect: { uri: '/a b/c/d', tail: [HOST] },
  },
  {
    name: 'UTF-8 bytes in path and query',
    target: '/caf%C3%A9?q=%C3%A9',
    headers: ['Host', 'localhost'],
    expect: { uri: '/caf\xc3\xa9', args: 'q=%C3%A9', tail: [HOST] },
  },
  {
    name: 'encoded query kept raw',
    target: '/s?q=a%26b&x=%20&y',
    headers: ['Host', 'localhost'],
    expect: { uri: '/s', args: 'q=a%26b&x=%20&y', tail: [HOST] },
  },
  { name: 'empty query', target: '/p?', headers: ['Host', 'localhost'], expect: { uri: '/p', tail: [HOST] } },
  {
    name: 'dot segments',
    target: '/a/./b/../c.php',
    headers: ['Host', 'localhost'],
    expect: { uri: '/a/c.php', tail: [HOST] },
  },
  {
    name: 'merged slashes',
    target: '//x//y/',
    headers: ['Host', 'localhost'],
    expect: { uri: '/x/y/', tail: [HOST] },
  },
  {
    name: 'repeated header',
    target: '/',
    headers: ['Host', 'localhost', 'X-A', '1', 'X-A', '2'],
    expect: { uri: '/', tail: [HOST, ['HTTP_X_A', '1, 2']] },
  },
  {
    name: 'two Cookie headers',
    target: '/',
    headers: ['Host', 'localhost', 'Cookie', 'a=1', 'Cookie', 'b=2'],
    expect: { uri: '/', tail: [HOST, ['HTTP_COOKIE', 'a=1; b=2']] },
  },
  {
    name: 'interleaved repeats merge at the first place',
    target: '/',
    headers: ['Host', 'localhost', 'Cookie', 'a=1', 'Accept', 'x', 'cookie', 'b=2', 'accept', 'y'],
    expect: { uri: '/', tail: [HOST, ['HTTP_COOKIE', 'a=1; b=2'], ['HTTP_ACCEPT', 'x, y']] },
  },
  {
    name: 'Proxy header (httpoxy)',
    target: '/',
    headers: ['Host', 'localhost', 'Proxy', 'http://evil:3128', 'X-B', 'b'],
    expect: { uri: '/', tail: [HOST, ['HTTP_X_B', 'b']] },
    nginxDiffers: 'nginx sends HTTP_PROXY unless HTTP_PROXY "" is configured',
  },
  {
    name: 'lower-case proxy header',
    target: '/',
    headers: ['Host', 'localhost', 'proxy', 'x'],
    expect: { uri: '/', tail: [HOST] },
    nginxDiffers: 'nginx sends HTTP_PROXY',
  },
  {
    name: 'underscore header names',
    target: '/',
    headers: ['Host', 'localhost', 'X_Forwarded_For', 'spoof', 'X-Forwarded-For', '10.0.0.1'],
    expect: { uri: '/', tail: [HOST, ['HTTP_X_FORWARDED_FOR', '10.0.0.1']] },
  },
  {
    name: 'dot in a header name',
    target: '/',
    headers: ['Host', 'localhost', 'X.Y', 'z', 'X-Z', 'z'],
    expect: { uri: '/', tail: [HOST, ['HTTP_X_Z', 'z']] },
  },
  {
    name: 'lower-case names',
    target: '/',
    headers: ['host', 'localhost', 'user-agent', 'ua', 'x-lower', 'l'],
    expect: { uri: '/', tail: [HOST, ['HTTP_USER_AGENT', 'ua'], ['HTTP_X_LOWER', 'l']] },
  },
  {
    name: 'IPv6 client and Host',
    target: '/v6',
    headers: ['Host', '[::1]:8080'],
    remote: ['::1', '1234'],
    expect: { uri: '/v6', tail: [['HTTP_HOST', '[::1]:8080']] },
  },
  {
    name: 'HTTPS',
    target: '/s',
    headers: ['Host', 'localhost'],
    https: true,
    expect: { uri: '/s', tail: [HOST] },
  },
  {
    name: 'Host case and port',
    target: '/',
    headers: ['Host', 'WWW.Example.COM:8080'],
    expect: { uri: '/', tail: [['HTTP_HOST', 'www.example.com:8080']] },
  },
  {
    name: 'Host trailing dot',
    target: '/',
    headers: ['Host', 'example.com.'],
    expect: { uri: '/', tail: [['HTTP_HOST', 'example.com']] },
  },
  { name: 'Host LOCALHOST', target: '/', headers: ['Host', 'LOCALHOST'], expect: { uri: '/', tail: [HOST] } },
  {
    name: 'Host with default port',
    target: '/',
    headers: ['Host', 'localhost:80'],
    expect: { uri: '/', tail: [['HTTP_HOST', 'localhost:80']] },
  },
  {
    name: 'HTTP/1.0 without Host',
    target: '/old',
    headers: [],
    protocol: 'HTTP/1.0',
    expect: { uri: '/old', tail: [HOST] },
  },
  {
    name: 'absolute-form target',
    target: 'http://Other.example:81/abs?x',
    headers: ['Host', 'localhost'],
    expect: { uri: '/abs', requestUri: '/abs?x', args: 'x', tail: [['HTTP_HOST', 'other.example:81']] },
  },
  {
    name: 'Authorization',
    target: '/',
    headers: ['Host', 'localhost', 'Authorization', 'Basic dTpw'],
    expect: { uri: '/', tail: [HOST, ['HTTP_AUTHORIZATION', 'Basic dTpw']] },
  },
  {
    name: 'hop-by-hop headers are not passed',
    target: '/',
    headers: ['Host', 'localhost', 'Connection', 'keep-alive, X-Hop', 'Keep-Alive', '5', 'X-Hop', '1'],
    expect: { uri: '/', tail: [HOST] },
    nginxDiffers: 'nginx sends HTTP_CONNECTION, HTTP_KEEP_ALIVE and HTTP_X_HOP',
  },
  {
    name: 'empty header value',
    target: '/',
    headers: ['Host', 'localhost', 'X-Empty', ''],
    expect: { uri: '/', tail: [HOST, ['HTTP_X_EMPTY', '']] },
  },
  {
    name: '8-bit header value',
    target: '/',
    headers: ['Host', 'localhost', 'X-L', 'caf\xe9'],
    expect: { uri: '/', tail: [HOST, ['HTTP_X_L', 'caf\xe9']] },
  },
  {
    name: 'Content-Type on a GET',
    target: '/',
    headers: ['Host', 'localhost', 'Content-Type', 'text/plain'],
    expect: { uri: '/', contentType: 'text/plain', tail: [HOST] },
    nginxDiffers: 'nginx also sends HTTP_CONTENT_TYPE',
  },
  {
    name: 'HTTP/2 pseudo-headers',
    target: '/h2',
    headers: [
      ':method',
      'GET',
      ':authority',
      'Example.com',
      ':scheme',
      'https',
      ':path',
      '/h2',
      'user-agent',
      'h2c',
    ],
    host: 'Example.com',
    https: true,
    protocol: 'HTTP/2.0',
    expect: {
      uri: '/h2',
      tail: [
        ['HTTP_HOST', 'example.com'],
        ['HTTP_USER_AGENT', 'h2c'],
      ],
    },
  },
  {
    name: 'split: script and path info',
    target: '/app/x.php/a/b?q=1',
    headers: ['Host', 'localhost'],
    split: true,
    expect: { uri: '/app/x.php/a/b', args: 'q=1', script: '/app/x.php', pathInfo: '/a/b', tail: [HOST] },
  },
  {
    name: 'split: no match',
    target: '/app/x.php',
    headers: ['Host', 'localhost'],
    split: true,
    expect: { uri: '/app/x.php', pathInfo: '', tail: [HOST] },
  },
  {
    name: 'split: directory gets fastcgi_index',
    target: '/dir/',
    headers: ['Host', 'localhost'],
    split: true,
    expect: { uri: '/dir/', script: '/dir/index.php', pathInfo: '', tail: [HOST] },
  },
  {
    name: 'split: encoded path info',
    target: '/x.php/a%20b/c.php/d',
    headers: ['Host', 'localhost'],
    split: true,
    expect: { uri: '/x.php/a b/c.php/d', script: '/x.php', pathInfo: '/a b/c.php/d', tail: [HOST] },
  },
];

function tableFacts(c: TableCase): RequestFacts {
  const at = c.headers.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === 'content-length');
  const cl = c.contentLength ?? (at === -1 ? undefined : c.headers[at + 1]);
  return makeRequestFacts({
    method: c.method ?? 'GET',
    rawTarget: c.target,
    headers: c.headers,
    ...(c.host === undefined ? {} : { host: c.host }),
    https: c.https === true,
    scheme: c.https === true ? 'https' : 'http',
    serverProtocol: c.protocol ?? 'HTTP/1.1',
    remoteAddr: c.remote?.[0] ?? '127.0.0.1',
    remotePort: c.remote?.[1] ?? '40000',
    serverAddr: '127.0.0.1',
    serverPort: '8080',
    serverName: 'localhost',
    documentRoot: ROOT,
    contentLength: cl ?? '',
  });
}

function common(c: TableCase): { https: Param[]; remote: readonly [string, string]; scheme: string } {
  return {
    https: c.https === true ? [['HTTPS', 'on']] : [],
    remote: c.remote ?? ['127.0.0.1', '40000'],
    scheme: c.https === true ? 'https' : 'http',
  };
}

function expectedScgi(c: TableCase): Param[] {
  const e = c.expect;
  const { https, remote, scheme } = common(c);
  return [
    ['REQUEST_METHOD', c.method ?? 'GET'],
    ['REQUEST_URI', e.requestUri ?? c.target],
    ['QUERY_STRING', e.args ?? ''],
    ['CONTENT_TYPE', e.contentType ?? ''],
    ['DOCUMENT_URI', e.uri],
    ['DOCUMENT_ROOT', ROOT],
    ['SCGI', '1'],
    ['SERVER_PROTOCOL', c.protocol ?? 'HTTP/1.1'],
    ['REQUEST_SCHEME', scheme],
    ...https,
    ['REMOTE_ADDR', remote[0]],
    ['REMOTE_PORT', remote[1]],
    ['SERVER_PORT', '8080'],
    ['SERVER_NAME', 'localhost'],
    ...e.tail,
  ];
}

function expectedFastcgiConf(c: TableCase): Param[] {
  const e = c.expect;
  const { https, remote, scheme } = common(c);
  const script = e.script ?? e.uri;
  return [
    ['SCRIPT_FILENAME', ROOT + script],
    ['QUERY_STRING', e.args ?? ''],
    ['REQUEST_METHOD', c.method ?? 'GET'],
    ['CONTENT_TYPE', e.contentType ?? ''],
    ['CONTENT_LENGTH', e.contentLength ?? ''],
    ['SCRIPT_NAME', script],
    ['REQUEST_URI', e.requestUri ?? c.target],
    ['DOCUMENT_URI', e.uri],
    ['DOCUMENT_ROOT', ROOT],
    ['SERVER_PROTOCOL', c.protocol ?? 'HTTP/1.1'],
    ['REQUEST_SCHEME', scheme],
    ...https,
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', `portico/${PORTICO_VERSION}`],
    ['REMOTE_ADDR', remote[0]],
    ['REMOTE_PORT', remote[1]],
    ['SERVER_ADDR', '127.0.0.1'],
    ['SERVER_PORT', '8080'],
    ['SERVER_NAME', 'localhost'],
    ['REDIRECT_STATUS', '200'],
    ...(c.split === true ? [['PATH_INFO', e.pathInfo ?? ''] as Param] : []),
    ...e.tail,
  ];
}

describe('request table: stock scgi_params and fastcgi.conf', () => {
  const scgi = compileParams(SCGI_PARAMS);
  const fcgi = compileParams(FASTCGI_CONF);
  const fcgiSplit = compileParams([...FASTCGI_CONF, p('PATH_INFO', '$fastcgi_path_info')]);

  it('has at least 30 requests', () => assert.ok(TABLE.length >= 30));

  for (const c of TABLE) {
    it(c.name, () => {
      const facts = tableFacts(c);
      assert.deepEqual(buildEnv(scgi, new VariableContext(facts)), expectedScgi(c), 'scgi_params');
      const split = c.split === true ? splitPathInfo(facts.path, SPLIT, 'index.php') : undefined;
      const ctx = new VariableContext(facts, split);
      assert.deepEqual(
        buildEnv(c.split === true ? fcgiSplit : fcgi, ctx),
        expectedFastcgiConf(c),
        'fastcgi.conf',
      );
    });
  }
});
