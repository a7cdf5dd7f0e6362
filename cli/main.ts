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
