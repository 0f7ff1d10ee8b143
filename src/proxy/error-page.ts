import { type ServerResponse, STATUS_CODES } from 'node:http';

function page(status: number): string {
  const title = `${status} ${STATUS_CODES[status] ?? 'Error'}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>portico</center>\r\n</body>\r\n</html>\r\n`;
}

function sendPage(res: ServerResponse, status: number, method: string, extra: Record<string, string>): void {
  const body = page(status);
  res.statusCode = status;
  res.setHeader('Server', 'portico');
  res.setHeader('Content-Type', 'text/html');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  for (const name of Object.keys(extra)) res.setHeader(name, extra[name] as string);
  res.end(method === 'HEAD' ? undefined : body);
}

/**
 * The page Portico answers with when it, not the backend, ends a request: short HTML as
 * nginx sends, with `Connection: close` when the request body may be left unread so no body
 * byte is ever parsed as a next request (CVE-2022-22720, semantics.md E15).
 */
export function sendErrorPage(
  res: ServerResponse,
  status: number,
  method: string,
  closeConnection = false,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendPage(res, status, method, closeConnection ? { Connection: 'close' } : {});
}

/** A redirect Portico makes itself (e.g. a prefix location's slashless URI, nginx C.1.10). */
export function sendRedirect(res: ServerResponse, status: 301 | 302, location: string, method: string): void {
  sendPage(res, status, method, { Location: location });
}

/**
 * nginx `return code [url]`: a redirect code sends Location with its page; any other code gets
 * nginx's page for it (204 and 304 with no body).
 */
export function sendReturn(
  res: ServerResponse,
  status: number,
  url: string | undefined,
  method: string,
): void {
  if (status === 204 || status === 304) {
    res.statusCode = status;
    res.setHeader('Server', 'portico');
    res.end();
    return;
  }
  sendPage(res, status, method, url === undefined ? {} : { Location: url });
}
