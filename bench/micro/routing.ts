/**
 * Micro-benchmark: routing one request path against 50 nginx locations (radix tree + regexes)
 * and against 50 ProxyPass rules (config order, alias_match), with a linear scan of the
 * location prefixes for comparison. Bounded: `node bench/micro/routing.ts [iterations]`
 * (default 200000 per case). Timing and output: harness.ts.
 */
import { compileLocations, type LocationSpec } from '../../src/proxy/locations.ts';
import { compileProxyPass, type ProxyPassSpec } from '../../src/proxy/proxy-pass.ts';
import { nsPerOp, printRow } from './harness.ts';

const iterations = Math.min(Number(process.argv[2] ?? 200_000) || 200_000, 10_000_000);

const sections = ['api', 'app', 'admin', 'static', 'media', 'blog', 'shop', 'docs', 'auth', 'user'];
const locations: LocationSpec[] = [{ match: '/' }];
for (const s of sections) {
  locations.push({ match: `/${s}/`, autoRedirect: true });
  locations.push({ match: `/${s}/v1/` });
  locations.push({ match: `/${s}/v2/internal/`, internal: true });
}
for (const s of sections) locations.push({ match: `= /${s}/health` });
for (const s of sections.slice(5, 9)) locations.push({ match: `^~ /${s}/assets/` });
locations.push({ match: '~ \\.php(/|$)' });
locations.push({ match: '~* \\.(gif|jpe?g|png|webp)$' });
locations.push({ match: '~ ^/(?<tenant>[a-z]+)/v1/reports/(\\d+)$' });
locations.push({ match: '~ ^/legacy/' });
locations.push({ match: '~* ^/WELL-KNOWN/' });
if (locations.length !== 50) throw new Error(`expected 50 locations, have ${locations.length}`);

const paths = [
  '/api/v1/users/42',
  '/shop/assets/app.js',
  '/blog/2024/01/post.php/extra',
  '/media/v1/photo.JPG',
  '/admin/health',
  '/docs',
  '/user/v1/reports/123',
  '/nothing/here/at/all',
  '/static/v2/internal/x',
  '/',
];

/** One match per call, cycling through `paths`; the hit count keeps the results alive. */
function bench(name: string, fn: (path: string) => unknown): void {
  let hits = 0;
  const ns = nsPerOp(
    iterations,
    (i) => {
      if (fn(paths[i % paths.length]!) !== undefined) hits++;
    },
    10_000,
  );
  printRow(name, ns, `(${hits} hits)`);
}

const matcher = compileLocations(locations);
bench('locations: radix tree + regexes (50)', (p) => matcher.match(p));
bench('locations: internal redirect (50)', (p) => matcher.match(p, { internal: true }));

// For scale: the longest-prefix part alone done as a scan over the same prefixes.
const prefixes = locations.map((l) => l.match.replace(/^(=|\^~) /, '')).filter((m) => m.startsWith('/'));
bench('reference: linear longest-prefix scan only', (p) => {
  let best: string | undefined;
  for (const name of prefixes)
    if (p.startsWith(name) && (best === undefined || name.length > best.length)) best = name;
  return best;
});

const rules: ProxyPassSpec[] = [];
for (const s of sections) {
  rules.push({ path: `/${s}/static/`, url: '!' });
  rules.push({ path: `/${s}/v1/`, url: `fcgi://127.0.0.1:9000/srv/${s}/` });
  rules.push({ path: `/${s}/`, url: `unix:/run/${s}.sock|scgi://localhost/` });
}
for (let i = rules.length; i < 49; i++)
  rules.push({ match: `^/r${i}/(.*\\.php)$`, url: `fcgi://h:9000/r${i}/$1` });
rules.push({ path: '/', url: 'scgi://127.0.0.1:4000/' });
const proxyPass = compileProxyPass(rules);
bench('ProxyPass: config order, first match (50)', (p) => proxyPass.match(p));
