/**
 * Micro-benchmarks of the CGI env build: `node bench/micro/env.ts [iterations-scale]`.
 * Timing and output: harness.ts.
 */
import { buildEnv, compileParams } from '../../src/cgi/env.ts';
import { compileSplitPathInfo, decodeRequestPath, splitPathInfo } from '../../src/cgi/path.ts';
import { makeRequestFacts } from '../../src/cgi/request-facts.ts';
import { FASTCGI_CONF, SCGI_PARAMS } from '../../src/cgi/stock-params.ts';
import { VariableContext } from '../../src/cgi/variables.ts';
import { bench } from './harness.ts';

/** A typical PHP request from a browser over HTTPS (rawHeaders as node:http gives them). */
const facts = makeRequestFacts({
  method: 'GET',
  rawTarget: '/index.php/blog/post?page=2&sort=desc',
  https: true,
  scheme: 'https',
  headers: [
    'Host',
    'example.com',
    'User-Agent',
    'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    'Accept',
    'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'Accept-Language',
    'en-GB,en;q=0.5',
    'Accept-Encoding',
    'gzip, deflate, br, zstd',
    'Cookie',
    `session=${'a1b2c3d4'.repeat(8)}; theme=dark`,
    'Cookie',
    `consent=${'x'.repeat(150)}`,
    'Upgrade-Insecure-Requests',
    '1',
    'Sec-Fetch-Dest',
    'document',
    'Sec-Fetch-Mode',
    'navigate',
    'Sec-Fetch-Site',
    'none',
    'Connection',
    'keep-alive',
  ],
  serverName: 'example.com',
  serverAddr: '198.51.100.2',
  serverPort: '443',
  remoteAddr: '203.0.113.7',
  remotePort: '53211',
  documentRoot: '/var/www/html',
});

const fastcgiConf = compileParams([...FASTCGI_CONF, { name: 'PATH_INFO', value: '$fastcgi_path_info' }]);
const scgiParams = compileParams(SCGI_PARAMS);
const split = compileSplitPathInfo('^(.+?\\.php)(/.*)$');

let sink = 0;

bench('decodeRequestPath (plain, fast path)', 1_000_000, () => {
  sink += decodeRequestPath('/index.php/blog/post').length;
});
bench('decodeRequestPath (escapes, dot segments)', 500_000, () => {
  sink += decodeRequestPath('/a%20b/./c//d/../index.php/x%2Fy').length;
});
bench('fastcgi.conf env (split + 12 headers)', 200_000, () => {
  const s = splitPathInfo(facts.path, split, 'index.php');
  sink += buildEnv(fastcgiConf, new VariableContext(facts, s)).length;
});
bench('scgi_params env (12 headers)', 200_000, () => {
  sink += buildEnv(scgiParams, new VariableContext(facts)).length;
});

if (sink === 0) console.log('(unreachable)');
