#!/usr/bin/env bun
// Entry point: `bun analyze.ts [FILE...] [options]`, or a subcommand. See README.md.
import { main } from "./src/cli/cli.ts";

process.exitCode = await main(process.argv.slice(2));
