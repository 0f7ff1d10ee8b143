import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { compileParams } from './env.ts';
import {
  APACHE_COMPILE_OPTIONS,
  apacheParams,
  FASTCGI_CONF,
  FASTCGI_PARAMS,
  SCGI_PARAMS,
  stockParams,
} from './stock-params.ts';

const NGINX_CONF_DIR = process.env.PORTICO_NGINX_CONF_DIR ?? '/etc/nginx';

/**
 * Read an installed nginx params file as [name, value, if_not_empty] lines, without Debian's
 * additions to upstream's files: `REMOTE_USER $remote_user` (a Debian patch; Portico has no
 * HTTP auth, so no `$remote_user`) and the security update's `HTTP_HOST $host` appended to
 * scgi_params / fastcgi_params.
 */
function readInstalled(file: string): Array<[string, string, boolean]> {
  const text = readFileSync(`${NGINX_CONF_DIR}/${file}`, 'latin1');
  const out: Array<[string, string, boolean]> = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(?:scgi|fastcgi)_param\s+(\S+)\s+(.*?)(\s+if_not_empty)?\s*;\s*$/.exec(line);
    if (m === null || m[1] === 'HTTP_HOST' || m[1] === 'REMOTE_USER') continue;
    out.push([m[1]!, m[2]!, m[3] !== undefined]);
  }
  return out;
}

const asLines = (list: typeof SCGI_PARAMS): Array<[string, string, boolean]> =>
  list.map((p) => [
    p.name,
    p.value === 'portico/$portico_version' ? 'nginx/$nginx_version' : p.value,
    p.ifNotEmpty === true,
  ]);

describe('stock nginx sets', () => {
  for (const [file, list] of [
    ['scgi_params', SCGI_PARAMS],
    ['fastcgi_params', FASTCGI_PARAMS],
    ['fastcgi.conf', FASTCGI_CONF],
  ] as const) {
    it(`${file} equals the installed nginx file line for line`, {
      skip: !existsSync(`${NGINX_CONF_DIR}/${file}`),
    }, () => {
      assert.deepEqual(asLines(list), readInstalled(file));
    });
    it(`${file} compiles and is found by name`, () => {
      assert.equal(stockParams(file), list);
      assert.ok(compileParams(list).entries.length > 10);
    });
  }

  it('fastcgi.conf starts with SCRIPT_FILENAME; HTTPS is if_not_empty everywhere', () => {
    assert.deepEqual(FASTCGI_CONF[0], {
      name: 'SCRIPT_FILENAME',
      value: '$document_root$fastcgi_script_name',
      ifNotEmpty: false,
    });
    for (const list of [SCGI_PARAMS, FASTCGI_PARAMS, FASTCGI_CONF]) {
      assert.equal(list.find((p) => p.name === 'HTTPS')?.ifNotEmpty, true);
      assert.equal(list.filter((p) => p.ifNotEmpty).length, 1);
    }
  });

  it('SERVER_SOFTWARE is portico/<version>, not nginx', () => {
    assert.equal(FASTCGI_PARAMS.find((p) => p.name === 'SERVER_SOFTWARE')?.value, 'portico/$portico_version');
  });

  it('the sets are frozen', () => {
    assert.ok(Object.isFrozen(SCGI_PARAMS) && Object.isFrozen(FASTCGI_CONF));
  });
});

describe('apache set', () => {
  it('is the CGI/1.1 set of ap_add_common_vars + ap_add_cgi_vars', () => {
    const names = apacheParams({ protocol: 'fastcgi' }).map((p) => p.name);
    for (const n of [
      'GATEWAY_INTERFACE',
      'SERVER_PROTOCOL',
      'REQUEST_METHOD',
      'QUERY_STRING',
      'REQUEST_URI',
      'SCRIPT_NAME',
      'PATH_INFO',
      'PATH_TRANSLATED',
      'SCRIPT_FILENAME',
      'SERVER_SOFTWARE',
      'SERVER_NAME',
      'SERVER_ADDR',
      'SERVER_PORT',
      'REMOTE_ADDR',
      'REMOTE_PORT',
      'DOCUMENT_ROOT',
      'REQUEST_SCHEME',
      'CONTEXT_PREFIX',
      'CONTEXT_DOCUMENT_ROOT',
      'SERVER_ADMIN',
      'SERVER_SIGNATURE',
      'CONTENT_TYPE',
      'CONTENT_LENGTH',
      'HTTPS',
    ]) {
      assert.ok(names.includes(n), n);
    }
    assert.equal(new Set(names).size, names.length);
    assert.ok(!names.includes('PATH') && !names.includes('LD_LIBRARY_PATH'));
  });

  it('SCGI drops GATEWAY_INTERFACE (mod_proxy_scgi)', () => {
    const names = apacheParams({ protocol: 'scgi' }).map((p) => p.name);
    assert.ok(!names.includes('GATEWAY_INTERFACE'));
    assert.equal(names.length, apacheParams({ protocol: 'fastcgi' }).length - 1);
  });

  it('only the variables httpd leaves out when absent are if_not_empty', () => {
    const optional = apacheParams({ protocol: 'fastcgi' })
      .filter((p) => p.ifNotEmpty)
      .map((p) => p.name);
    assert.deepEqual(optional.sort(), [
      'CONTENT_LENGTH',
      'CONTENT_TYPE',
      'HTTPS',
      'PATH_INFO',
      'PATH_TRANSLATED',
    ]);
  });

  it('takes ServerAdmin and compiles with the httpd header options', () => {
    const list = apacheParams({ protocol: 'fastcgi', serverAdmin: 'root@example.com' });
    assert.equal(list.find((p) => p.name === 'SERVER_ADMIN')?.value, 'root@example.com');
    const compiled = compileParams(list, APACHE_COMPILE_OPTIONS);
    assert.ok(!compiled.entries.some((e) => e.name === 'HTTP_HOST'));
    assert.ok(compiled.hiddenHeaders.has('HTTP_AUTHORIZATION'));
  });
});
