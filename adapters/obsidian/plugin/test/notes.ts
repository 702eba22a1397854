/** Notes as the tests read and write them: the frontmatter Obsidian's metadataCache would
 *  give (flat `key: value` lines, JSON-quoted strings, as stigmem writes them), and `sign`
 *  ticked as processFrontMatter writes it. */
export function frontmatter(text: string): Record<string, unknown> {
  const match = /^---\n([\s\S]*?)\n---/.exec(text);
  const props: Record<string, unknown> = {};
  for (const line of match?.[1]?.split("\n") ?? []) {
    const at = line.indexOf(": ");
    if (at < 0) continue;
    const raw = line.slice(at + 2).trim();
    let parsed: unknown = raw;
    try { parsed = JSON.parse(raw); } catch { /* a bare YAML scalar: keep the text */ }
    props[line.slice(0, at)] = parsed;
  }
  return props;
}

export function tickSign(text: string): string {
  if (/^sign: .*$/m.test(text)) return text.replace(/^sign: .*$/m, "sign: true");
  return text.replace(/\n---\n/, "\nsign: true\n---\n");
}
