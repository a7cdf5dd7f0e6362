import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["common/**/*.test.ts", "engine/**/*.test.ts", "gateways/**/*.test.ts", "cli/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One retry under CI only: a single unidentified failure was seen once in five full local runs (real
    // sockets and timers under load); a deterministic failure still fails twice. Tracked in the closing note.
    retry: process.env.CI === "true" ? 1 : 0,
  },
});
