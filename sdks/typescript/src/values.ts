import type { FactValueIn } from "./types.js";

/** Builders for typed values: `value.string("bob")` is `{type: "string", v: "bob"}`. */
export const value = {
  string: (v: string): FactValueIn => ({ type: "string", v }),
  text: (v: string): FactValueIn => ({ type: "text", v }),
  number: (v: number): FactValueIn => ({ type: "number", v }),
  boolean: (v: boolean): FactValueIn => ({ type: "boolean", v }),
  /** An ISO 8601 date-time, or a Date (sent as its ISO string). */
  datetime: (v: string | Date): FactValueIn =>
    ({ type: "datetime", v: typeof v === "string" ? v : v.toISOString() }),
  /** A reference to an entity, e.g. `project:atlas`. */
  ref: (v: string): FactValueIn => ({ type: "ref", v }),
  null: (): FactValueIn => ({ type: "null", v: null }),
} as const;
