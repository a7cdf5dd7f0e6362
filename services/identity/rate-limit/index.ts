/** Rate limiting (memory or Redis, sliding window log) and the default limits of the login/registration submit path. */
export * from "./rate-limiter.js";
export * from "./submit-limits.js";
