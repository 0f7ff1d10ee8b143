import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatListenAddress,
  formatSocketAddress,
  MAX_UNIX_PATH_BYTES,
  parseBackendUrl,
  parseListenAddress,
  parsePass,
  parseSocketAddress,
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

test('socket addresses need a port (no default port for SCGI/FastCGI)', () => {
  assert.deepEqual(value(parseSocketAddress('127.0.0.1:9000')), {
    kind: 'tcp',
    host: '127.0.0.1',
    port: 9000,
  });
  assert.deepEqual(value(parseSocketAddress('php.internal:9000')), {
    kind: 'tcp',
    host: 'php.internal',
    port: 9000,
  });
  assert.deepEqual(value(parseSocketAddress('unix:/run/php/php-fpm.sock')), {
    kind: 'unix',
    path: '/run/php/php-fpm.sock',
  });
  assert.match(message(parseSocketAddress('localhost')), /no port/);
  assert.match(message(parseSocketAddress('localhost:0')), /invalid port/);
});

test('pass: upstream name, address, or a path-less scgi:// / fcgi:// URL', () => {
  assert.deepEqual(value(parsePass('php')), { kind: 'upstream', name: 'php' });
  assert.deepEqual(value(parsePass('127.0.0.1:9000')), {
    kind: 'address',
    address: { kind: 'tcp', host: '127.0.0.1', port: 9000 },
    protocol: undefined,
  });
  assert.deepEqual(value(parsePass('scgi://localhost/')), {
    kind: 'address',
    address: { kind: 'tcp', host: 'localhost', port: 4000 },
    protocol: 'scgi',
  });
  assert.deepEqual(value(parsePass('fcgi://[::1]:9000')), {
    kind: 'address',
    address: { kind: 'tcp', host: '::1', port: 9000 },
    protocol: 'fastcgi',
  });
  assert.match(message(parsePass('fcgi://h:9000/app')), /has no path/);
  assert.match(message(parsePass('http://h/')), /unsupported scheme/);
  assert.match(message(parsePass('not a name')), /invalid pass/);
});

test('Apache worker URLs, with the default ports of httpd', () => {
  assert.deepEqual(value(parseBackendUrl('scgi://localhost/')), {
    protocol: 'scgi',
    address: { kind: 'tcp', host: 'localhost', port: 4000 },
    path: '/',
  });
  assert.deepEqual(value(parseBackendUrl('fcgi://127.0.0.1/var/www/$1')), {
    protocol: 'fastcgi',
    address: { kind: 'tcp', host: '127.0.0.1', port: 8000 },
    path: '/var/www/$1',
  });
  assert.deepEqual(value(parseBackendUrl('unix:/run/php-fpm.sock|fcgi://localhost/var/www/')), {
    protocol: 'fastcgi',
    address: { kind: 'unix', path: '/run/php-fpm.sock' },
    path: '/var/www/',
  });
  assert.deepEqual(value(parseBackendUrl('fcgi://[::1]:9000')), {
    protocol: 'fastcgi',
    address: { kind: 'tcp', host: '::1', port: 9000 },
    path: '',
  });
  assert.match(message(parseBackendUrl('unix:/run/x.sock')), /needs "\|scgi/);
  assert.match(message(parseBackendUrl('unix:/run/x.sock|fcgi:///x')), /needs a host/);
  assert.match(message(parseBackendUrl('fcgi://h/a b')), /space or control/);
  assert.match(message(parseBackendUrl('fastcgi://h/')), /unsupported scheme/);
});

test('formatting round-trips the notation', () => {
  for (const text of ['127.0.0.1:9000', '[::1]:9000', 'unix:/run/app.sock']) {
    assert.equal(formatSocketAddress(value(parseSocketAddress(text))), text);
  }
  for (const text of ['*:8080', '127.0.0.1:8080', '[::1]:8080', 'unix:/run/p.sock']) {
    assert.equal(formatListenAddress(value(parseListenAddress(text))), text);
  }
});
