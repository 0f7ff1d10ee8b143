import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { loadConfigText, parseConfigObject } from './load.ts';

function issuesOf(fn: () => unknown): ConfigError['issues'] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.code, 'ERR_CONFIG');
    return error.issues;
  }
  assert.fail('expected a ConfigError');
}

test('an empty object gets every default, in bytes and milliseconds', () => {
  const c = parseConfigObject({});
  assert.deepEqual(c.listen, [8080]);
  assert.deepEqual(c.server_name, ['']);
  assert.equal(c.root, join(process.cwd(), 'html'));
  assert.equal(c.client_max_body_size, 1024 * 1024);
  assert.equal(c.client_body_buffer_size, 16 * 1024);
  assert.equal(c.client_header_timeout, 60_000);
  assert.equal(c.keepalive_timeout, 75_000);
  assert.equal(c.keepalive_requests, 1000);
  assert.deepEqual(c.large_client_header_buffers, { number: 4, size: 8192 });
  assert.equal(c.shutdown_timeout, 30_000);
  assert.deepEqual(c.error_log, { path: 'stderr', level: 'info' });
  assert.deepEqual(c.access_log, { path: 'stdout', format: 'combined' });
  assert.deepEqual(c.upstreams, {});
  assert.deepEqual(c.locations, []);
  assert.deepEqual(c.proxy_pass, []);
  assert.match(c.client_body_temp_path, /portico-body$/);
});

test('the validated config is deeply frozen', () => {
  const c = parseConfigObject({
    locations: [{ match: '/', fastcgi: { pass: '127.0.0.1:9000', params: { A: 'a' } } }],
  });
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.locations));
  assert.ok(Object.isFrozen(c.locations[0]!.fastcgi!.params[0]));
  assert.throws(() => {
    (c as { root: string }).root = '/x';
  }, TypeError);
});

test('relative paths resolve against the config file directory, keeping an alias trailing slash', () => {
  const c = loadConfigText(
    [
      'root: public',
      'client_body_temp_path: tmp/body',
      'access_log: { path: logs/access.log }',
      'error_log: { path: stderr }',
      'locations:',
      '  - { match: /files/, alias: files/ }',
      '  - { match: /abs/, root: /srv/abs }',
    ].join('\n'),
    '/etc/portico/portico.yaml',
  );
  assert.equal(c.root, '/etc/portico/public');
  assert.equal(c.client_body_temp_path, '/etc/portico/tmp/body');
  assert.equal(c.access_log.path, '/etc/portico/logs/access.log');
  assert.equal(c.error_log.path, 'stderr');
  assert.equal(c.locations[0]!.alias, '/etc/portico/files/');
  assert.equal(c.locations[1]!.root, '/srv/abs');
});

test('the default root is html beside the config file, like nginx prefix-relative html', () => {
  assert.equal(loadConfigText('{}', '/etc/portico/portico.yaml').root, '/etc/portico/html');
});

test('include_params: stock set alone, params alone replace it, both append', () => {
  const c = parseConfigObject({
    locations: [
      { match: '/a', scgi: { pass: '127.0.0.1:4000' } },
      { match: '/b', fastcgi: { pass: '127.0.0.1:9000' } },
      { match: '/c', fastcgi: { pass: '127.0.0.1:9000', params: { X: 'y' } } },
      {
        match: '/d',
        fastcgi: { pass: '127.0.0.1:9000', include_params: 'fastcgi_params', params: { X: 'y' } },
      },
      { match: '/e', scgi: { pass: '127.0.0.1:4000', params: {} } },
    ],
  });
  const sets = c.locations.map((l) => (l.scgi ?? l.fastcgi)!.include_params);
  assert.deepEqual(sets, ['scgi_params', 'fastcgi.conf', 'none', 'fastcgi_params', 'none']);
});

test('params keep their order; values may be numbers; if_not_empty takes on/off', () => {
  const c = parseConfigObject({
    locations: [
      {
        match: '/',
        fastcgi: {
          pass: '127.0.0.1:9000',
          params: {
            SCRIPT_FILENAME: '$document_root$fastcgi_script_name',
            REDIRECT_STATUS: 200,
            HTTPS: { value: '$https', if_not_empty: 'on' },
            HTTP_PROXY: '',
          },
        },
      },
    ],
  });
  assert.deepEqual(c.locations[0]!.fastcgi!.params, [
    { name: 'SCRIPT_FILENAME', value: '$document_root$fastcgi_script_name', if_not_empty: false },
    { name: 'REDIRECT_STATUS', value: '200', if_not_empty: false },
    { name: 'HTTPS', value: '$https', if_not_empty: true },
    { name: 'HTTP_PROXY', value: '', if_not_empty: false },
  ]);
});

test('flags take YAML booleans and on/off', () => {
  const c = loadConfigText(
    'locations:\n  - match: /\n    internal: on\n    fastcgi: { pass: "127.0.0.1:9000", keep_conn: true, pass_request_body: off }\n',
    'f.yaml',
  );
  const loc = c.locations[0]!;
  assert.equal(loc.internal, true);
  assert.equal(loc.fastcgi!.keep_conn, true);
  assert.equal(loc.fastcgi!.pass_request_body, false);
  assert.equal(loc.fastcgi!.pass_request_headers, true);
});

test('proxy_pass: connectiontimeout defaults to timeout, backend_type to FPM', () => {
  const c = parseConfigObject({
    proxy_pass: [
      { path: '/a/', url: 'fcgi://127.0.0.1:9000/srv/', timeout: '5s' },
      { match: '^/(.*)$', url: 'scgi://127.0.0.1:4000/$1', timeout: 10, connectiontimeout: '2s' },
    ],
  });
  assert.equal(c.proxy_pass[0]!.connectiontimeout, 5000);
  assert.equal(c.proxy_pass[0]!.backend_type, 'FPM');
  assert.equal(c.proxy_pass[1]!.timeout, 10_000);
  assert.equal(c.proxy_pass[1]!.connectiontimeout, 2000);
});

test('every issue is collected, with file:line:col and key path', () => {
  const issues = issuesOf(() =>
    loadConfigText('listen: [nope]\nsend_timeout: 3x\nlocations:\n  - match: "~ ("\n', 'conf/p.yaml'),
  );
  assert.deepEqual(
    issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path}`),
    ['conf/p.yaml:1:10: listen[0]', 'conf/p.yaml:2:15: send_timeout', 'conf/p.yaml:4:12: locations[0].match'],
  );
});

test('objects have no positions: line and column are 0', () => {
  const issues = issuesOf(() => parseConfigObject({ listen: 'x' }, 'api'));
  assert.deepEqual(issues, [
    { file: 'api', line: 0, column: 0, path: 'listen', message: 'expected a list, got "x"' },
  ]);
});

test('YAML syntax errors and duplicate keys carry line:col', () => {
  const syntax = issuesOf(() => loadConfigText('listen: [8080\nroot: /x\n', 'y.yaml'));
  assert.ok(syntax.length >= 1);
  assert.equal(syntax[0]!.path, '(yaml)');
  assert.ok(syntax[0]!.line >= 1);
  const dup = issuesOf(() => loadConfigText('root: /a\nroot: /b\n', 'y.yaml'));
  assert.equal(dup[0]!.line, 2);
  assert.equal(dup[0]!.column, 1);
  assert.match(dup[0]!.message, /unique/i);
});

test('a duration longer than a Node timer is refused', () => {
  const issues = issuesOf(() => parseConfigObject({ keepalive_timeout: '30d' }));
  assert.match(issues[0]!.message, /longest Node timer/);
});

test('duplicate listen addresses and duplicate locations are refused, as nginx does', () => {
  const issues = issuesOf(() =>
    parseConfigObject({ listen: [8080, '*:8080'], locations: [{ match: '/a' }, { match: '^~ /a' }] }),
  );
  assert.deepEqual(
    issues.map((i) => `${i.path}: ${i.message}`),
    [
      'listen[1]: duplicate listen address (same as listen[0])',
      'locations[1].match: duplicate location (same as locations[0])',
    ],
  );
});

test('ProxyPassMatch: $N must exist in the regex; $N needs match', () => {
  const issues = issuesOf(() =>
    parseConfigObject({
      proxy_pass: [
        { match: '^/(.*)$', url: 'fcgi://h:9000/$2' },
        { path: '/x/', url: 'fcgi://h:9000/$1' },
        { path: '/y/', url: 'scgi://h:4000/', backend_type: 'GENERIC' },
      ],
    }),
  );
  assert.deepEqual(
    issues.map((i) => `${i.path}: ${i.message}`),
    [
      'proxy_pass[0].url: url uses $2 but match has 1 capture groups',
      'proxy_pass[1].url: $1 in url needs match (ProxyPassMatch)',
      'proxy_pass[2].backend_type: backend_type applies to fcgi:// URLs only',
    ],
  );
});
