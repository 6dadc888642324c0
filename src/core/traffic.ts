// What identifies a generated log besides its seed and length, apart from
// the generator itself: the parent plans and reports with these and loads
// the generator (and the tables it builds on loading) only to write lines.

export interface GeneratorSettings {
  /** Timestamp of line 0, in epoch seconds (UTC). */
  startEpoch: number;
  /** How many consecutive lines share one timestamp second. */
  linesPerSecond: number;
}

export const DEFAULT_SEED = 20261127;
export const DEFAULT_GENERATOR: GeneratorSettings = {
  startEpoch: Date.UTC(2026, 10, 27, 0, 0, 0) / 1000,
  linesPerSecond: 50,
};
