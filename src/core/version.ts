import pkg from "../../package.json" with { type: "json" };

/** The engine's own version (the report schema is versioned separately). */
export const ENGINE_VERSION: string = pkg.version;
