/**
 * The PHP scripts the php-fpm tests run, written into a temp docroot. Each answers JSON or
 * plain bytes the test can check exactly (superglobals, sha256 of what PHP received, a
 * deterministic large body).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** $_GET, $_POST, $_FILES (with each upload's sha256), the string entries of $_SERVER, php://input. */
const DUMP = `<?php
header('Content-Type: application/json');
$files = [];
foreach ($_FILES as $key => $f) {
  $files[$key] = ['name' => $f['name'], 'type' => $f['type'], 'size' => $f['size'], 'error' => $f['error'],
    'sha256' => $f['error'] === UPLOAD_ERR_OK ? hash_file('sha256', $f['tmp_name']) : null];
}
$server = [];
foreach ($_SERVER as $key => $value) if (is_string($value)) $server[$key] = $value;
echo json_encode(['get' => $_GET, 'post' => $_POST, 'files' => $files, 'server' => $server,
  'input' => file_get_contents('php://input')], JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE);
`;

/** Streams php://input through sha256: what PHP really received, however large. */
const SHA = `<?php
header('Content-Type: application/json');
$in = fopen('php://input', 'rb');
$ctx = hash_init('sha256');
$n = 0;
while (!feof($in)) {
  $b = fread($in, 65536);
  if ($b === false || $b === '') break;
  $n += strlen($b);
  hash_update($ctx, $b);
}
echo json_encode(['length' => $n, 'sha256' => hash_final($ctx),
  'content_length' => $_SERVER['CONTENT_LENGTH'] ?? null,
  'transfer_encoding' => $_SERVER['HTTP_TRANSFER_ENCODING'] ?? null]);
`;

/** BIG_BLOCK_BYTES per block, ?blocks=N of them; ?cl=1 announces Content-Length. */
const BIG = `<?php
header('Content-Type: application/octet-stream');
$n = (int)($_GET['blocks'] ?? 0);
if (isset($_GET['cl'])) header('Content-Length: ' . ($n * 128));
for ($i = 0; $i < $n; $i++) echo hash('sha256', "a$i"), hash('sha256', "b$i");
`;

/**
 * "first", flushed; then waits (bounded) for the file ?f= the test creates only after it read
 * "first" through the gateway; then "second". A gateway that held the first chunk back would
 * deliver "first" only together with "gave up".
 */
const FLUSH = `<?php
header('Content-Type: text/plain');
echo "first\\n";
flush();
$f = $_GET['f'];
for ($i = 0; $i < 3000 && !file_exists($f); $i++) usleep(5000);
echo file_exists($f) ? "second\\n" : "gave up\\n";
`;

/** error_log() goes to FCGI_STDERR under php-fpm (fastcgi.logging=1, the default). */
const STDERR = `<?php
header('Content-Type: text/plain');
error_log('portico-stderr-marker ' . $_GET['m']);
echo "logged\\n";
`;

export const PHP_SCRIPTS: Readonly<Record<string, string>> = {
  'dump.php': DUMP,
  // A name that must be percent-encoded in a URL: DOCUMENT_URI shows it decoded.
  'a b.php': DUMP,
  'sha.php': SHA,
  'big.php': BIG,
  'flush.php': FLUSH,
  'stderr.php': STDERR,
};

export async function writePhpScripts(docroot: string): Promise<void> {
  for (const [name, source] of Object.entries(PHP_SCRIPTS)) await writeFile(join(docroot, name), source);
}

export const BIG_BLOCK_BYTES = 128;

/** The sha256 (hex) of what big.php sends for `blocks` blocks, computed independently. */
export function bigBodySha256(blocks: number): string {
  const hash = createHash('sha256');
  for (let i = 0; i < blocks; i++) {
    hash.update(createHash('sha256').update(`a${i}`).digest('hex'));
    hash.update(createHash('sha256').update(`b${i}`).digest('hex'));
  }
  return hash.digest('hex');
}

/** php.ini settings for 20 MB uploads (php-fpm -n starts from PHP's built-in 8M / 2M). */
export const PHP_UPLOAD_INI: Readonly<Record<string, string>> = {
  post_max_size: '64M',
  upload_max_filesize: '64M',
  memory_limit: '256M',
  max_file_uploads: '5',
};
