/**
 * What makes nginx `alias` usable in a regex location (`location ~ ^/u/(.+)$ { alias /d/$1; }`).
 * nginx takes the alias, variables and captures substituted, as the whole path of the file
 * (ngx_http_core_root: alias = NGX_MAX_SIZE_T_VALUE), with or without captures
 * (`location ~ ^/favicon\.ico$ { alias /srv/static/favicon.ico; }`). Portico adds a rule for
 * locations that serve files with it: the alias must start with a literal directory, the
 * boundary every request's file must stay under (src/server/regex-alias.ts).
 */

/**
 * Why `alias` cannot serve files in a regex location, or undefined when it can (config checks);
 * `servesFiles` false (the alias only sets `$document_root`): always fine.
 */
export function regexAliasProblem(alias: string, servesFiles = true): string | undefined {
  if (servesFiles && aliasBoundary(alias) === '/') {
    return 'alias in a regex location must start with a directory before its first variable';
  }
  return undefined;
}

/** The alias text before its first variable, cut after its last `/` (`/` at least). */
export function aliasBoundary(alias: string): string {
  const dollar = alias.indexOf('$');
  const literal = dollar === -1 ? alias : alias.slice(0, dollar);
  return literal.slice(0, literal.lastIndexOf('/') + 1) || '/';
}
