/**
 * The `portico` command line. `bin/portico.js` imports this module and calls runCli; run
 * directly (`node src/cli/main.ts ...`) it runs itself.
 */
import { readFileSync } from 'node:fs';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { configJsonSchema } from '../config/json-schema.ts';
import { runCheck } from './check.ts';
import { runDemo, runServe } from './serve.ts';
import { COMMAND_USAGE, MAIN_USAGE } from './usage.ts';

/** Exit status for bad usage (unknown flag or command, missing argument), as getopt tools use. */
const EXIT_USAGE = 2;

class UsageError extends Error {
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

/** From package.json, which sits two levels up from both src/cli and dist/cli. */
export function porticoVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function parse<T extends ParseArgsOptionsConfig>(command: string, args: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error), command);
  }
}

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

async function dispatch(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('a command is required');
  if (first === '-h' || first === '--help' || first === 'help') {
    if (rest.length > 1 || (rest[0] !== undefined && COMMAND_USAGE[rest[0]] === undefined)) {
      throw new UsageError(`no help for ${JSON.stringify(rest.join(' '))}`);
    }
    process.stdout.write(rest[0] === undefined ? MAIN_USAGE : COMMAND_USAGE[rest[0]]!);
    return 0;
  }
  if (first === '-v' || first === '--version') {
    if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
    process.stdout.write(`portico ${porticoVersion()}\n`);
    return 0;
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option ${JSON.stringify(first)}`);
  switch (first) {
    case 'check': {
      const { values } = parse(first, rest, { ...HELP, config: { type: 'string', short: 'c' } });
      if (values.help) return help(first);
      if (typeof values.config !== 'string') throw new UsageError('check needs -c FILE', first);
      return runCheck(values.config);
    }
    case 'serve': {
      const { values } = parse(first, rest, {
        ...HELP,
        config: { type: 'string', short: 'c' },
        demo: { type: 'boolean' },
        port: { type: 'string' },
      });
      if (values.help) return help(first);
      if (values.demo === true) {
        if (values.config !== undefined) throw new UsageError('use either -c FILE or --demo', first);
        return runDemo(values.port === undefined ? undefined : parsePort(values.port as string));
      }
      if (values.port !== undefined)
        throw new UsageError('--port goes with --demo (a config has listen)', first);
      if (typeof values.config !== 'string') throw new UsageError('serve needs -c FILE or --demo', first);
      return runServe(values.config);
    }
    case 'schema': {
      const { values } = parse(first, rest, HELP);
      if (values.help) return help(first);
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(first)}`);
  }
}

function parsePort(text: string): number {
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65535))
    throw new UsageError(`invalid --port ${JSON.stringify(text)} (0-65535)`, 'serve');
  return port;
}

function help(command: string): number {
  process.stdout.write(COMMAND_USAGE[command]!);
  return 0;
}

/** Run the CLI with `argv` (without node and the script); resolves to the exit status. */
export async function runCli(argv: readonly string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) {
      process.stderr.write(
        `portico: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      return 1;
    }
    const usage = error.command === undefined ? MAIN_USAGE : COMMAND_USAGE[error.command]!;
    process.stderr.write(`portico: ${error.message}\n\n${usage}`);
    return EXIT_USAGE;
  }
}

if (import.meta.main) {
  process.exitCode = await runCli(process.argv.slice(2));
}
