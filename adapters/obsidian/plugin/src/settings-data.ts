/** The settings' shape and how data.json is read back (no Obsidian: unit-tested). */
export interface StigmemSettings { nodeUrl: string; token: string }

export const DEFAULT_SETTINGS: StigmemSettings = { nodeUrl: "http://127.0.0.1:8765", token: "" };

/** Settings read back from data.json, whatever it holds (a file a person may have edited). */
export function readSettings(data: unknown): StigmemSettings {
  const saved = (data && typeof data === "object" ? data : {}) as Record<string, unknown>;
  const pick = (key: keyof StigmemSettings) =>
    typeof saved[key] === "string" ? (saved[key] as string).trim() : DEFAULT_SETTINGS[key];
  return { nodeUrl: pick("nodeUrl") || DEFAULT_SETTINGS.nodeUrl, token: pick("token") };
}
