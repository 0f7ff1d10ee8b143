import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../errors.ts';
import {
  type AddressErrorCode,
  type BackendAddress,
  MAX_SOCKET_PATH_BYTES,
  parseBackendAddress,
  tryParseBackendAddress,
} from './address.ts';
import type { SocketTarget } from './connector.ts';

function ok(input: string): BackendAddress {
  const r = tryParseBackendAddress(input);
  assert.ok(r.ok, `expected ${JSON.stringify(input)} to parse: ${r.ok ? '' : r.message}`);
  return r.address;
}

function bad(input: string, code: AddressErrorCode, message: string | RegExp): void {
  const r = tryParseBackendAddress(input);
  assert.equal(r.ok, false, `expected ${JSON.stringify(input)} to be rejected`);
  if (r.ok) return;
  assert.equal(r.code, code, `${JSON.stringify(input)}: ${r.message}`);
  if (typeof message === 'string') assert.equal(r.message, message);
  else assert.match(r.message, message);
}

describe('nginx address forms (C.1.10)', () => {
  it('host:port with an IPv4 literal', () => {
    assert.deepEqual(ok('127.0.0.1:9000'), {
      protocol: undefined,
      transport: 'tcp',
      host: '127.0.0.1',
      port: 9000,
      urlPath: '',
      display: '127.0.0.1:9000',
    });
  });

  it('host names are lower-cased', () => {
    const a = ok('LocalHost:4000');
    assert.equal(a.host, 'localhost');
    assert.equal(a.port, 4000);
    assert.equal(a.display, 'localhost:4000');
    assert.equal(ok('php-fpm_1.internal.:65535').host, 'php-fpm_1.internal.');
  });

  it('[::1]:9000 keeps the brackets out of host and in display', () => {
    const a = ok('[::1]:9000');
    assert.equal(a.host, '::1');
    assert.equal(a.port, 9000);
    assert.equal(a.display, '[::1]:9000');
    assert.equal(ok('[fe80::1%eth0]:9000').host, 'fe80::1%eth0');
  });

  it('unix:/path', () => {
    assert.deepEqual(ok('unix:/run/php/php-fpm.sock'), {
      protocol: undefined,
      transport: 'unix',
      socketPath: '/run/php/php-fpm.sock',
      urlPath: '',
      display: 'unix:/run/php/php-fpm.sock',
    });
    assert.equal(ok('UNIX:/tmp/a b.sock').socketPath, '/tmp/a b.sock');
  });

  it('is what the connector takes', () => {
    const target: SocketTarget = ok('127.0.0.1:1');
    assert.equal(target.transport, 'tcp');
  });
});

describe('Apache URL forms (C.5, C.6)', () => {
  it('fcgi://host:port/path', () => {
    assert.deepEqual(ok('fcgi://127.0.0.1:9000/var/www/'), {
      protocol: 'fastcgi',
      transport: 'tcp',
      host: '127.0.0.1',
      port: 9000,
      urlPath: '/var/www/',
      display: '127.0.0.1:9000',
    });
  });

  it('default ports: fcgi 8000, scgi 4000 (proxy_util.c pschemes, SCGI_DEF_PORT)', () => {
    const f = ok('fcgi://localhost');
    assert.equal(f.port, 8000);
    assert.equal(f.urlPath, '');
    const s = ok('SCGI://App.Example/');
    assert.equal(s.protocol, 'scgi');
    assert.equal(s.host, 'app.example');
    assert.equal(s.port, 4000);
    assert.equal(s.urlPath, '/');
  });

  it('IPv6 literal in a URL', () => {
    const a = ok('scgi://[::1]:4001/x');
    assert.equal(a.host, '::1');
    assert.equal(a.port, 4001);
    assert.equal(a.display, '[::1]:4001');
  });

  it('the URL path is taken as written, not percent-decoded, and may hold $N', () => {
    assert.equal(ok('fcgi://h:9000/a%20b/').urlPath, '/a%20b/');
    assert.equal(ok('fcgi://127.0.0.1:9000/var/www/$1').urlPath, '/var/www/$1');
  });

  it('unix:/path|fcgi://localhost/path (UDS form)', () => {
    assert.deepEqual(ok('unix:/run/php.sock|fcgi://localhost/var/www/'), {
      protocol: 'fastcgi',
      transport: 'unix',
      socketPath: '/run/php.sock',
      urlPath: '/var/www/',
      display: 'unix:/run/php.sock',
    });
    const s = ok('unix:/run/app.sock|scgi://x/');
    assert.equal(s.protocol, 'scgi');
    assert.equal(s.urlPath, '/');
    // httpd "allow for unix:/path|http:": the host may be left out when a socket names the target.
    assert.equal(ok('unix:/run/app.sock|scgi://').urlPath, '');
  });
});

describe('rejected addresses', () => {
  it('empty', () => bad('', 'ERR_ADDRESS_EMPTY', 'backend address is empty'));

  it('too long', () => bad(`a${'b'.repeat(5000)}:1`, 'ERR_ADDRESS_TOO_LONG', /longer than 4096/));

  it('NUL, CR, LF and other control bytes anywhere', () => {
    bad('127.0.0.1:9000\0', 'ERR_ADDRESS_CONTROL_CHAR', /\(0x00\) at offset 14/);
    bad('unix:/run/x\r.sock', 'ERR_ADDRESS_CONTROL_CHAR', /\(0x0d\) at offset 11/);
    bad('fcgi://h/\n', 'ERR_ADDRESS_CONTROL_CHAR', /\(0x0a\)/);
    bad('h:1\x7f', 'ERR_ADDRESS_CONTROL_CHAR', /\(0x7f\)/);
  });

  it('surrounding whitespace', () => {
    bad(' 127.0.0.1:9000', 'ERR_ADDRESS_WHITESPACE', 'backend address has leading or trailing whitespace');
  });

  it('port 0, above 65535, empty, not a number', () => {
    bad('127.0.0.1:0', 'ERR_ADDRESS_PORT', '"127.0.0.1:0": port 0 is out of range (1-65535)');
    bad('h:65536', 'ERR_ADDRESS_PORT', '"h:65536": port 65536 is out of range (1-65535)');
    bad('fcgi://h:0/', 'ERR_ADDRESS_PORT', /port 0 is out of range/);
    bad('h:', 'ERR_ADDRESS_PORT', '"h:" has an empty port');
    bad('h:90a', 'ERR_ADDRESS_PORT', '"h:90a": port "90a" is not a number');
    bad('h:123456', 'ERR_ADDRESS_PORT', /is not a number/);
    bad('[::1]:', 'ERR_ADDRESS_PORT', '"[::1]:" has an empty port');
  });

  it('nginx form without a port', () => {
    bad(
      'localhost',
      'ERR_ADDRESS_NO_PORT',
      'backend address "localhost" has no port (nginx form needs host:port; a bare name must be an upstream group)',
    );
    bad('[::1]', 'ERR_ADDRESS_NO_PORT', /has no port/);
  });

  it('empty or invalid host', () => {
    bad(':9000', 'ERR_ADDRESS_HOST', '":9000" has an empty host');
    bad('fcgi://:9000/', 'ERR_ADDRESS_HOST', '":9000" has an empty host');
    bad('fcgi:///var/www', 'ERR_ADDRESS_HOST', 'backend URL "fcgi:///var/www" has no host');
    bad('-bad:1', 'ERR_ADDRESS_HOST', '"-bad:1": "-bad" is not a valid host name or IPv4 address');
    bad('300.1.1.1:1', 'ERR_ADDRESS_HOST', /"300\.1\.1\.1" is not a valid host name or IPv4 address/);
    bad('127.1:1', 'ERR_ADDRESS_HOST', /not a valid host name or IPv4/);
    bad('::1:9000', 'ERR_ADDRESS_HOST', /must be written in brackets/);
    bad('[::1:9000', 'ERR_ADDRESS_HOST', /lacks its closing/);
    bad('[127.0.0.1]:9000', 'ERR_ADDRESS_HOST', /is not an IPv6 address/);
    bad('[::1]x:1', 'ERR_ADDRESS_HOST', /unexpected text after/);
  });

  it('unknown schemes', () => {
    bad(
      'http://127.0.0.1:8080/',
      'ERR_ADDRESS_SCHEME',
      'unsupported scheme "http://" in backend address: Portico speaks scgi:// and fcgi:// only',
    );
    bad('balancer://php/', 'ERR_ADDRESS_SCHEME', /"balancer:\/\/"/);
    bad('unix:/run/x.sock|http://localhost/', 'ERR_ADDRESS_SCHEME', /"http:\/\/"/);
    bad('file:/etc/passwd', 'ERR_ADDRESS_SCHEME', /unknown form/);
  });

  it('relative, empty or too long unix paths', () => {
    bad(
      'unix:run/php.sock',
      'ERR_ADDRESS_UNIX_PATH',
      'unix socket path "run/php.sock" must be absolute (start with "/")',
    );
    bad('unix:', 'ERR_ADDRESS_UNIX_PATH', 'unix: address has an empty socket path');
    bad('unix:x.sock|fcgi://localhost/', 'ERR_ADDRESS_UNIX_PATH', /must be absolute/);
    bad(`unix:/${'s'.repeat(MAX_SOCKET_PATH_BYTES)}`, 'ERR_ADDRESS_UNIX_PATH', /the system limit is/);
    assert.equal(ok(`unix:/${'s'.repeat(MAX_SOCKET_PATH_BYTES - 1)}`).transport, 'unix');
  });

  it('malformed URLs', () => {
    bad('unix:/run/x.sock|fcgi:', 'ERR_ADDRESS_URL', /must be a URL such as fcgi:\/\/localhost\//);
    bad('fcgi://user@h/', 'ERR_ADDRESS_URL', 'backend URL "fcgi://user@h/" must not carry user information');
    bad(
      'fcgi://h/x?y=1',
      'ERR_ADDRESS_URL',
      'backend URL "fcgi://h/x?y=1" must not have a query or fragment',
    );
    bad('fcgi://h/#x', 'ERR_ADDRESS_URL', /query or fragment/);
  });

  it('$N in the host or port (CVE-2021-40438: the request must never choose the origin)', () => {
    bad(
      'fcgi://$1:9000/',
      'ERR_ADDRESS_HOST',
      /only in the path, never in the host or port \(CVE-2021-40438\)/,
    );
    bad('fcgi://h:$1/', 'ERR_ADDRESS_HOST', /CVE-2021-40438/);
  });
});

describe('parseBackendAddress', () => {
  it('returns the address', () => {
    assert.equal(parseBackendAddress('unix:/run/a.sock').socketPath, '/run/a.sock');
  });

  it('throws a ConfigError with one issue placed where the caller says', () => {
    const where = { file: 'portico.yaml', line: 7, column: 13, path: 'upstreams.php.servers[0].address' };
    const expected = tryParseBackendAddress('localhost');
    assert.ok(!expected.ok);
    assert.throws(
      () => parseBackendAddress('localhost', where),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.code, 'ERR_CONFIG');
        assert.equal(err.issues.length, 1);
        assert.deepEqual(err.issues[0], { ...where, message: expected.message });
        return true;
      },
    );
  });
});
