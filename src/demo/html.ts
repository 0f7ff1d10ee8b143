/** Small HTML helpers for the demo pages: escaping and one shared layout. */

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text -> HTML text or attribute value. Everything shown that came from a request goes through it. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** CGI values are latin1 strings of raw bytes; browsers send UTF-8, so show them decoded. */
export function fromBytes(value: string): string {
  return Buffer.from(value, 'latin1').toString('utf8');
}

const STYLE = `
body { font: 15px/1.5 system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; } code, td { font-family: ui-monospace, monospace; font-size: 13px; }
table { border-collapse: collapse; width: 100%; } td, th { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td { word-break: break-all; } nav { margin-bottom: 1rem; }
form p { margin: .5rem 0; } input[type=text], textarea { width: 100%; box-sizing: border-box; }
`;

/** The start of a page, up to and including its heading (streamed pages send it first). */
export function pageStart(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - Portico demo</title>
<style>${STYLE}</style>
</head>
<body>
<nav><a href="/">Portico demo</a></nav>
<h1>${escapeHtml(title)}</h1>
`;
}

export const PAGE_END = '</body>\n</html>\n';

/** A whole page: title, navigation back to the index, body. */
export function page(title: string, body: string): string {
  return `${pageStart(title)}${body}\n${PAGE_END}`;
}

/** A table; every cell is escaped. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows
    .map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table>\n<tr>${head}</tr>\n${body}\n</table>`;
}
