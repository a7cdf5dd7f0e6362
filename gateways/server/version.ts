/** The version of this Gatehouse build, as `/version` reports it. */
import { readFileSync } from "node:fs";

/** The `version` field of the project's package.json, read once when first imported. */
export const packageVersion: string = readPackageVersion();

function readPackageVersion(): string {
  const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed === "object" && parsed !== null && "version" in parsed && typeof parsed.version === "string") {
    return parsed.version;
  }
  throw new Error("package.json has no version");
}
