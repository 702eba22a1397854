/**
 * The harness page: Obsidian's window, reduced to a note pane, a right sidebar and a status
 * bar, with the real plugin (src/main.ts) loaded into it. `?scene=` picks what to show:
 * `note` (the note `?note=` open, its badge), `conflicts`, `recall` (for `?note=`'s entity),
 * `settings` (after pressing Test connection). The page says `data-ready` when done.
 */
import StigmemPlugin, { CONFLICTS_VIEW, RECALL_VIEW } from "../src/main.ts";
import { App, MarkdownView, TFile, type CachedNote } from "./fake-obsidian.ts";

interface NoteAnswer { text: string; cache: CachedNote }

async function note(path: string): Promise<NoteAnswer> {
  const answer = await fetch(`/note?path=${encodeURIComponent(path)}`);
  if (!answer.ok) throw new Error(`${path}: ${answer.status} ${await answer.text()}`);
  return answer.json() as Promise<NoteAnswer>;
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const scene = params.get("scene") ?? "note";
  (window as unknown as { harnessData: unknown }).harnessData = { nodeUrl: params.get("node"), token: "" };
  const app = new App(document.getElementById("main")!, document.getElementById("side")!);
  const path = params.get("note");
  if (path) {
    const { text, cache } = await note(path);
    const file = new TFile(path);
    app.metadataCache.notes.set(path, cache);
    app.workspace.activeFile = file;
    const view = new MarkdownView(file, text, cache.frontmatter ?? {});
    app.workspace.activeView = view;
    document.getElementById("main")!.appendChild(view.containerEl);
  }
  const plugin = new StigmemPlugin(app as never, { id: "stigmem" } as never);
  await plugin.onload();
  if (scene === "note") {
    await plugin.refresh();
  } else if (scene === "conflicts") {
    await plugin.reveal(CONFLICTS_VIEW);
    await plugin.refresh();
  } else if (scene === "recall") {
    await plugin.reveal(RECALL_VIEW);
    await plugin.refresh();
  } else if (scene === "settings") {
    const tab = (plugin as unknown as { tabs: Array<{ display(): void; containerEl: HTMLElement }> }).tabs[0]!;
    tab.display();
    document.getElementById("main")!.replaceChildren(tab.containerEl);
    tab.containerEl.querySelector("button")!.click();
    const result = tab.containerEl.querySelector(".stigmem-connection")!;
    const deadline = Date.now() + 10_000;
    while (result.textContent === "testing…" && Date.now() < deadline) {
      await new Promise((wake) => setTimeout(wake, 50));
    }
  }
  document.body.dataset.ready = "true";
}

main().catch((error) => {
  document.body.dataset.ready = "error";
  document.body.append(String(error?.stack ?? error));
});
