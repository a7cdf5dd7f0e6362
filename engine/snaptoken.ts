/**
 * Snaptokens (Zanzibar's zookies): opaque strings naming a store revision. They are not secret — a client
 * that forges one only asks for a fresher or an exact read — so they carry a version tag and a checksum to
 * catch corruption and mix-ups, not a signature.
 */
import { createHash } from "node:crypto";
import { InvalidArgumentError } from "../common/errors.js";
import type { Revision } from "./store/tuple-store.js";

const PREFIX = "gh1_";

function checksum(revisionText: string): string {
  return createHash("sha256").update(`gatehouse-snaptoken:${revisionText}`).digest("base64url").slice(0, 6);
}

// Most responses in a burst carry the same (quantized) revision: remember the last token instead of hashing
// again for each (profiled at about 2% of a Check's server time).
let lastRevision = -1;
let lastToken = "";

/** Encodes a revision as a snaptoken, e.g. `gh1_2n9c.Xy3_ab`. */
export function encodeSnaptoken(revision: Revision): string {
  if (revision === lastRevision) return lastToken;
  const text = revision.toString(36);
  const token = `${PREFIX}${text}.${checksum(text)}`;
  lastRevision = revision;
  lastToken = token;
  return token;
}

/** Decodes a snaptoken; a malformed or altered token is `invalid_argument` naming `field`. */
export function decodeSnaptoken(token: string, field = "snaptoken"): Revision {
  const malformed = (why: string) =>
    new InvalidArgumentError(`${field}: "${token.slice(0, 64)}" is not a Gatehouse snaptoken (${why})`, {
      details: { field },
      reason: "invalid_snaptoken",
    });
  if (!token.startsWith(PREFIX)) throw malformed(`expected the prefix ${PREFIX}`);
  const [text = "", sum = "", ...rest] = token.slice(PREFIX.length).split(".");
  if (rest.length > 0 || !/^[0-9a-z]{1,11}$/.test(text)) throw malformed("bad revision part");
  if (sum !== checksum(text)) throw malformed("checksum mismatch");
  const revision = parseInt(text, 36);
  if (!Number.isSafeInteger(revision)) throw malformed("revision out of range");
  return revision;
}
