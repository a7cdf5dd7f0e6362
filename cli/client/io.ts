/** Where a client command reads its environment and writes its output; tests pass their own. */

/** The output streams and environment of one command run. */
export interface ClientIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** The environment the endpoint and API-key variables come from; `process.env` by default. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The process's own streams and environment. */
export const processIo: ClientIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
};
