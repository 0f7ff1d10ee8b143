/** Help texts. Kept apart from the parsing so `--help` output is easy to review. */

export const MAIN_USAGE = `Usage: portico <command> [options]

An HTTP gateway to SCGI and FastCGI applications.

Commands:
  serve -c FILE      run the gateway with a YAML config
  serve --demo       run the embedded demo (gateway + demo backends)
  check -c FILE      validate a config and print what would run
  schema             print the config's JSON Schema (for editors)

Options:
  -h, --help         show help (also: portico <command> --help)
  -v, --version      print the version

Exit status: 0 success, 1 invalid config or failure, 2 bad usage.
`;

export const COMMAND_USAGE: Readonly<Record<string, string>> = {
  serve: `Usage: portico serve -c FILE
       portico serve --demo [--port N]

Run the gateway. SIGTERM or SIGINT stops accepting connections and waits up to
shutdown_timeout for requests in flight; a second signal exits at once.

Options:
  -c, --config FILE  the YAML config to run
      --demo         run the embedded demo instead of a config
      --port N       the demo's port (default: the demo's choice)
  -h, --help         show this help
`,
  check: `Usage: portico check -c FILE

Validate a config. Prints what would run (listeners, locations in match order with
their backends and effective params) and exits 0, or prints every problem as
FILE:LINE:COL: KEY.PATH: MESSAGE and exits 1.

Options:
  -c, --config FILE  the YAML config to check
  -h, --help         show this help
`,
  schema: `Usage: portico schema

Print the JSON Schema of the config (draft 2020-12) to stdout, for editors:
  # yaml-language-server: $schema=./portico.schema.json

Options:
  -h, --help         show this help
`,
};
