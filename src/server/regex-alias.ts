/**
 * nginx `alias` in a regex location:
 *
 *   location ~ ^/users/(.+\.(?:gif|jpe?g|png))$ { alias /data/w3/images/$1; }
 *
 * The alias with the location's captures substituted is the file for the request's URI (nginx
 * ngx_http_map_uri_to_path with a regex alias: the whole path, nothing of the URI appended),
 * with or without captures. What nginx does not have, and Portico adds: the
 * result must stay under the alias's literal directory (the text before its first variable, up
 * to its last `/`), so a capture can never take the path elsewhere, whatever the regex allows.
 * The captures are bytes of the decoded path; the config text is UTF-8: both become bytes
 * before they meet, so a name that is not UTF-8 reaches the file system byte for byte.
 */
import { compileTemplate, VariableContext } from '../cgi/variables.ts';
import type { ExpandInput } from '../proxy/static-route.ts';
import { aliasBoundary } from '../static/regex-alias-check.ts';
import { StaticRoot, type SymlinkPolicy } from '../static/resolve.ts';
import { type FactsBase, facts, flowRequest } from './route-support.ts';

/** The per-request document root of a regex location with `alias`. */
export function compileRegexAlias(
  alias: string,
  symlinks: SymlinkPolicy,
  base: FactsBase,
): (input: ExpandInput) => StaticRoot {
  const boundary = aliasBoundary(alias);
  // Literal parts as latin1 strings of their UTF-8 bytes, like the captures they join.
  const template = compileTemplate(Buffer.from(alias, 'utf8').toString('latin1'));
  return (input) => {
    const bytes = template.evaluate(new VariableContext(facts(flowRequest(input), base)));
    return new StaticRoot(
      { kind: 'alias-exact', alias: Buffer.from(bytes, 'latin1'), uri: input.uri, boundary },
      { symlinks },
    );
  };
}
