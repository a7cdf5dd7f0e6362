/**
 * The `gatehouse` command line: parses the sub-command and hands over. Each command returns its exit code.
 */

const usage = `Usage: gatehouse <command> [options]

Commands:
  serve                 Serve the authorization API (read :4466, write :4467, OPL :4469) on the embedded store
                        by default; see \`gatehouse serve --help\` for settings.
  validate FILE...      Run the tests of OpenFGA store files (*.fga.yaml); models in OPL or OpenFGA DSL.
                        Exit 0 when all pass, 1 when any fails, 2 for an invalid file.
  migrate               Apply the database migrations to PostgreSQL (--database-url or GATEHOUSE_DATABASE_URL)
                        or to the embedded store (--data-dir, default ./.gatehouse/data).

Client commands (native gRPC to a running server; see \`gatehouse <command> --help\`):
  check TUPLE           Does ns:obj#rel@subject hold? Prints allowed/denied and the snaptoken (read endpoint).
  expand NS:OBJ#REL     Print the userset tree (read endpoint).
  tuples create|delete|list
                        Write tuples from arguments or JSON/YAML files, delete them or by filter (write
                        endpoint); list them as a table or JSON (read endpoint).
  schema push|get|validate
                        Store, print or check a schema (OPL or OpenFGA DSL).
  namespaces            List the namespaces of the stored schema (read endpoint).
  Exit codes: 0 done, 1 the request failed, 2 usage error, 3 denied (check --exit-code).

  help                  Show this text.
`;

/** Runs the command line and returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    // Commands load lazily so each pays only for the modules it uses.
    case "serve":
      return (await import("./commands/serve.js")).runServe(rest);
    case "validate":
      return (await import("./commands/validate.js")).runValidate(rest);
    case "migrate":
      return (await import("./commands/migrate.js")).runMigrate(rest);
    case "check":
      return (await import("./commands/check.js")).runCheck(rest);
    case "expand":
      return (await import("./commands/expand.js")).runExpand(rest);
    case "tuples":
      return (await import("./commands/tuples.js")).runTuples(rest);
    case "schema":
      return (await import("./commands/schema.js")).runSchema(rest);
    case "namespaces":
      return (await import("./commands/namespaces.js")).runNamespaces(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(usage);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`gatehouse: unknown command "${command}"\n\n${usage}`);
      return 2;
  }
}
