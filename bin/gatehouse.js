#!/usr/bin/env node
// The `gatehouse` command. The sources are TypeScript run through tsx's loader, so a fresh clone works
// with `npm ci` alone (no build step to forget).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
