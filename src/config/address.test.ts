import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatListenAddress,
  MAX_UNIX_PATH_BYTES,
  parseBackendUrl,
  parseListenAddress,
  parsePass,
  parseServerAddress,
} from './address.ts';

function value<T>(r: { ok: true; value: T } | { ok: false; message: string }): T {
  if (!r.ok) assert.fail(r.message);
  return r.value;
}
function message(r: { ok: boolean; message?: string }): string {
  assert.equal(r.ok, false);
  return r.message!;
}

test('listen forms of nginx', () => {
  assert.deepEqual(value(parseListenAddress(8080)), { kind: 'tcp', host: undefined, port: 8080 });
  assert.deepEqual(value(parseListenAddress('8080')), { kind: 'tcp', host: undefined, port: 8080 });
  assert.deepEqual(value(parseListenAddress('*:8080')), { kind: 'tcp', host: undefined, port: 8080 });
  assert.deepEqual(value(parseListenAddress('127.0.0.1:8080')), {
    kind: 'tcp',
    host: '127.0.0.1',
    port: 8080,
  });
  assert.deepEqual(value(parseListenAddress('[::1]:8080')), { kind: 'tcp', host: '::1', port: 8080 });
  assert.deepEqual(value(parseListenAddress('localhost:0')), { kind: 'tcp', host: 'localhost', port: 0 });
  assert.deepEqual(value(parseListenAddress('unix:/run/portico.sock')), {
    kind: 'unix',
    path: '/run/portico.sock',
  });
});

test('bad listen addresses say why', () => {
  assert.match(message(parseListenAddress(70000)), /invalid port 70000/);
  assert.match(message(parseListenAddress(1.5)), /invalid port/);
  assert.match(message(parseListenAddress('127.0.0.1')), /has no port/);
  assert.match(message(parseListenAddress('::1:8080')), /needs brackets/);
  assert.match(message(parseListenAddress('[::g]:80')), /invalid IPv6/);
  assert.match(message(parseListenAddress('300.1.1.1:80')), /invalid IPv4/);
  assert.match(message(parseListenAddress('bad host:80')), /invalid host name/);
  assert.match(message(parseListenAddress('unix:')), /empty/);
  assert.match(message(parseListenAddress(`unix:/${'a'.repeat(MAX_UNIX_PATH_BYTES)}`)), /sun_path/);
});

test('server addresses need a port (no default port for SCGI/FastCGI) and an absolute socket path', () => {
  const tcp = value(parseServerAddress('127.0.0.1:9000'));
  assert.equal(tcp.display, '127.0.0.1:9000');
  assert.equal(value(parseServerAddress('php.internal:9000')).host, 'php.internal');
  assert.equal(value(parseServerAddress('unix:/run/php/php-fpm.sock')).socketPath, '/run/php/php-fpm.sock');
  assert.match(message(parseServerAddress('localhost')), /no port/);
  assert.match(message(parseServerAddress('localhost:0')), /out of range/);
  assert.match(message(parseServerAddress('unix:run/php.sock')), /must be absolute/);
});

test('pass: upstream name, address, or a path-less scgi:// / fcgi:// URL', () => {
  assert.deepEqual(value(parsePass('php')), { kind: 'upstream', name: 'php' });
  const tcp = value(parsePass('127.0.0.1:9000'));
  assert.ok(tcp.kind === 'address');
  assert.equal(tcp.address.display, '127.0.0.1:9000');
  assert.equal(tcp.address.protocol, undefined);
  const scgi = value(parsePass('scgi://localhost/'));
  assert.ok(scgi.kind === 'address');
  assert.equal(scgi.address.display, 'localhost:4000');
  assert.equal(scgi.address.protocol, 'scgi');
  const v6 = value(parsePass('fcgi://[::1]:9000'));
  assert.ok(v6.kind === 'address');
  assert.equal(v6.address.display, '[::1]:9000');
  assert.equal(v6.address.protocol, 'fastcgi');
  assert.match(message(parsePass('fcgi://h:9000/app')), /has no path/);
  assert.match(message(parsePass('http://h/')), /unsupported scheme/);
  assert.match(message(parsePass('not a name')), /./);
});

test('Apache worker URLs, with the default ports of httpd', () => {
  const scgi = value(parseBackendUrl('scgi://localhost/'));
  assert.deepEqual([scgi.protocol, scgi.display, scgi.urlPath], ['scgi', 'localhost:4000', '/']);
  const fcgi = value(parseBackendUrl('fcgi://127.0.0.1/var/www/$1'));
  assert.deepEqual([fcgi.protocol, fcgi.display, fcgi.urlPath], ['fastcgi', '127.0.0.1:8000', '/var/www/$1']);
  const uds = value(parseBackendUrl('unix:/run/php-fpm.sock|fcgi://localhost/var/www/'));
  assert.deepEqual(
    [uds.protocol, uds.display, uds.urlPath],
    ['fastcgi', 'unix:/run/php-fpm.sock', '/var/www/'],
  );
  const v6 = value(parseBackendUrl('fcgi://[::1]:9000'));
  assert.deepEqual([v6.protocol, v6.display, v6.urlPath], ['fastcgi', '[::1]:9000', '']);
  assert.match(message(parseBackendUrl('unix:/run/x.sock')), /is not a URL/);
  assert.match(message(parseBackendUrl('127.0.0.1:9000')), /is not a URL/);
  assert.match(message(parseBackendUrl('fcgi://$1:9000/')), /CVE-2021-40438/);
  assert.match(message(parseBackendUrl('fastcgi://h/')), /unsupported scheme/);
});

test('listen formatting round-trips the notation', () => {
  for (const text of ['*:8080', '127.0.0.1:8080', '[::1]:8080', 'unix:/run/p.sock']) {
    assert.equal(formatListenAddress(value(parseListenAddress(text))), text);
  }
});
