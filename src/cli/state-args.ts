// The flags of `state`, apart from what runs it (SQLite is loaded only when it does).

import type { ArgsDef } from "citty";
import { defineCommand } from "./args.ts";

export const stateArgs = {
  action: { type: "positional", required: false, description: "info: what the state holds; forget: drop inputs (all when none is named), so the next run counts them again" },
  json: { type: "boolean", description: "info as one JSON document" },
  help: { type: "boolean", alias: "h", description: "Show this help" },
} as const satisfies ArgsDef;

export const stateCommand = defineCommand({
  meta: { name: "state", description: "Look into a --state file (state info FILE) or drop inputs from it (state forget FILE [INPUT...])" },
  args: stateArgs,
});
