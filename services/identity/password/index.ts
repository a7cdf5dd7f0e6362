/** Password hashing, verification of imported hashes, the hashing limiter and the password policy. */
export * from "./hasher.js";
export * from "./limiter.js";
export * from "./policy.js";
