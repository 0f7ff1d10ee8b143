/**
 * zod issues -> ConfigIssues: a key path people can read (`locations[2].fastcgi.pass`), a
 * position (`file:line:col`) found by the caller's locator, and one issue per unknown key.
 */
import type { z } from 'zod';
import type { ConfigIssue } from '../errors.ts';

export type KeyPath = readonly PropertyKey[];

/** Where an issue points: the value at `path`, or the key that names it. */
export type Locator = (
  path: KeyPath,
  at: 'key' | 'value',
) => { readonly line: number; readonly column: number };

const PLAIN_KEY_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `locations[2].fastcgi.pass`, `upstreams.php.servers[0]`, `params["X.Y"]`; `(root)` for the top. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = String(segment);
      out += PLAIN_KEY_RE.test(key) ? (out === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    }
  }
  return out === '' ? '(root)' : out;
}

/**
 * Did the input have the type a union branch wanted? A branch whose only complaint is a
 * type mismatch of the whole value did not; its errors would only confuse.
 */
function branchMatchedType(errors: readonly z.core.$ZodIssue[]): boolean {
  const only = errors.length === 1 ? errors[0]! : undefined;
  if (only === undefined || only.path.length > 0) return true;
  if (only.code === 'invalid_type') return false;
  if (only.code === 'invalid_union') return only.errors.some(branchMatchedType);
  return true;
}

export function toConfigIssues(
  issues: readonly z.core.$ZodIssue[],
  file: string,
  locate: Locator,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const add = (path: KeyPath, at: 'key' | 'value', message: string): void => {
    const { line, column } = locate(path, at);
    out.push({ file, line, column, path: formatKeyPath(path), message });
  };
  const visit = (issue: z.core.$ZodIssue, prefix: KeyPath): void => {
    const path = [...prefix, ...issue.path];
    switch (issue.code) {
      case 'unrecognized_keys': {
        const lines = issue.message.split('\n');
        issue.keys.forEach((key, i) => {
          add([...path, key], 'key', lines[i] ?? lines[0]!);
        });
        return;
      }
      case 'invalid_key':
        add(path, 'key', issue.issues[0]?.message ?? issue.message);
        return;
      case 'invalid_union': {
        const matched = issue.errors.filter(branchMatchedType);
        if (matched.length === 1) {
          for (const inner of matched[0]!) visit(inner, path);
          return;
        }
        add(path, 'value', issue.message);
        return;
      }
      case 'invalid_type':
        // A missing key has no node of its own: point at the mapping that lacks it.
        add(path, issue.message === 'is required' ? 'key' : 'value', issue.message);
        return;
      case 'custom':
        add(
          path,
          (issue.params as { at?: string } | undefined)?.at === 'key' ? 'key' : 'value',
          issue.message,
        );
        return;
      default:
        add(path, 'value', issue.message);
    }
  };
  for (const issue of issues) visit(issue, []);
  // File order reads best; issues without a position (line 0) keep schema order.
  return out
    .map((issue, index) => ({ issue, index }))
    .sort((a, b) => a.issue.line - b.issue.line || a.issue.column - b.issue.column || a.index - b.index)
    .map((x) => x.issue);
}
