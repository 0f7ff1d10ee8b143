/**
 * YAML text or a plain object -> a validated, deeply frozen PorticoConfig, or a ConfigError
 * carrying every issue (not just the first), each with `file:line:col` and its key path.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { ConfigError, type ConfigIssue } from '../errors.ts';
import { configErrorMap } from './fields.ts';
import { type KeyPath, type Locator, toConfigIssues } from './issues.ts';
import { createConfigSchema, type PorticoConfig } from './schema.ts';

/** Objects have no positions; line and column 0 say so. */
const NO_POSITION: Locator = () => ({ line: 0, column: 0 });

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

function validate(input: unknown, file: string, baseDir: string, locate: Locator): PorticoConfig {
  const schema = createConfigSchema({ baseDir });
  const result = schema.safeParse(input, { error: configErrorMap });
  if (!result.success) throw new ConfigError(toConfigIssues(result.error.issues, file, locate));
  return deepFreeze(result.data) as PorticoConfig;
}

/**
 * Validate a config given as an object (the TypeScript API). `source` names it in issues
 * and, when it is a file name, relative paths resolve against its directory (else the
 * current directory).
 */
export function parseConfigObject(obj: unknown, source?: string): PorticoConfig {
  const baseDir = source === undefined ? process.cwd() : dirname(resolve(source));
  return validate(obj, source ?? '<config>', baseDir, NO_POSITION);
}

/** Find where a key path points in the YAML document; missing nodes fall back to their nearest ancestor's key. */
function yamlLocator(
  contents: Node | null,
  lineCounter: LineCounter,
  resolveAlias: (n: Node) => Node,
): Locator {
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  return (path: KeyPath, at) => {
    let node: Node | null = contents;
    let keyNode: Node | null = null;
    for (let i = 0; i < path.length; i++) {
      if (node !== null && isAlias(node)) node = resolveAlias(node);
      const segment = path[i];
      let nextNode: Node | null | undefined;
      let nextKey: Node | null = null;
      if (isMap(node)) {
        const pair = node.items.find(
          (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment),
        );
        if (pair !== undefined) {
          nextKey = pair.key as Node;
          nextNode = (pair.value as Node | null) ?? null;
        }
      } else if (isSeq(node) && typeof segment === 'number') {
        nextNode = (node.items[segment] as Node | undefined) ?? undefined;
      }
      if (nextNode === undefined) break; // missing: report at the deepest node found
      const last = i === path.length - 1;
      if (last && at === 'key' && nextKey !== null) return position(nextKey.range?.[0] ?? 0);
      if (
        nextNode === null ||
        (isScalar(nextNode) && nextNode.value === null && nextNode.range?.[0] === nextNode.range?.[1])
      ) {
        // `key:` with no value: the key is where the eye goes.
        return position((nextKey ?? node)?.range?.[0] ?? 0);
      }
      node = nextNode;
      keyNode = nextKey;
      if (last) return position(node.range?.[0] ?? 0);
    }
    // The path ends below what the document has (a missing key): point at its parent's key.
    return position((keyNode ?? node)?.range?.[0] ?? 0);
  };
}

/** Parse YAML text and validate it. `fileName` names it in issues; relative paths resolve against its directory. */
export function loadConfigText(text: string, fileName: string): PorticoConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.map((error) => {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      return { file: fileName, line, column: col, path: '(yaml)', message: yamlMessage(error.message) };
    });
    throw new ConfigError(issues);
  }
  // Aliases are expanded with the yaml package's limit on alias counts (billion laughs).
  const input = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const locate = yamlLocator(doc.contents as Node | null, lineCounter, (alias) =>
    isAlias(alias) ? ((alias.resolve(doc) as Node | undefined) ?? alias) : alias,
  );
  return validate(input, fileName, dirname(resolve(fileName)), locate);
}

/** The yaml package's message, first line only (the rest is a code excerpt we replace with line:col). */
function yamlMessage(message: string): string {
  const first = message.split('\n')[0]!.trim();
  return first.replace(/ at line \d+, column \d+:?$/, '');
}

/** Read and validate a YAML config file. */
export async function loadConfigFile(path: string): Promise<PorticoConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(
      [{ file: path, line: 0, column: 0, path: '(file)', message: `cannot read: ${reason}` }],
      {
        cause: error,
      },
    );
  }
  return loadConfigText(text, path);
}
