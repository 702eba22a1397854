/**
 * The Obsidian plugin: thin glue between Obsidian's workspace and the node. What a note is and
 * what its badge says is model.ts; every question to the node is gateway.ts; the views render
 * with plain DOM (views/). Signing is the person's `sign` tick (spec §14): the Sign command
 * ticks it through Obsidian, as a person would, and the node's watcher signs.
 */
import {
  ItemView, MarkdownView, Modal, Notice, Plugin, TFile, type WorkspaceLeaf,
} from "obsidian";
import { Gateway, reason } from "./gateway.js";
import { obsidianFetch } from "./fetch.js";
import { entityNoteLink, noteKind, type NoteKind } from "./model.js";
import { DEFAULT_SETTINGS, StigmemSettingTab, readSettings, type StigmemSettings } from "./settings.js";
import { renderBadge } from "./views/badge.js";
import { renderConflicts } from "./views/conflicts.js";
import { renderRecall } from "./views/recall.js";
import { clear, el } from "./dom.js";

export const CONFLICTS_VIEW = "stigmem-conflicts";
export const RECALL_VIEW = "stigmem-recall";

export default class StigmemPlugin extends Plugin {
  settings: StigmemSettings = { ...DEFAULT_SETTINGS };
  #status: HTMLElement | undefined;
  #generation = 0;

  async onload(): Promise<void> {
    this.settings = readSettings(await this.loadData());
    this.addSettingTab(new StigmemSettingTab(this.app, this));
    for (const panel of Object.values(PANELS)) {
      this.registerView(panel.type, (leaf) => new PanelView(leaf, this, panel));
    }
    this.#status = this.addStatusBarItem();
    this.#status.addClass?.("stigmem-status-bar");

    this.addCommand({ id: "sign", name: "Sign this note (draft, edit or conflict choice)",
                      callback: () => void this.sign() });
    this.addCommand({ id: "revert", name: "Revert this note's pending edit",
                      callback: () => void this.revert() });
    this.addCommand({ id: "retract", name: "Retract this fact", callback: () => void this.retract() });
    this.addCommand({ id: "open-entity", name: "Open this note's entity",
                      callback: () => void this.openEntity() });
    this.addCommand({ id: "open-conflicts", name: "Show open conflicts",
                      callback: () => void this.reveal(CONFLICTS_VIEW) });
    this.addCommand({ id: "open-recall", name: "Show recall for this note's entity",
                      callback: () => void this.reveal(RECALL_VIEW) });
    this.addRibbonIcon("git-compare", "stigmem: open conflicts", () => void this.reveal(CONFLICTS_VIEW));

    this.registerEvent(this.app.workspace.on("file-open", () => void this.refresh()));
    this.registerEvent(this.app.metadataCache.on("changed", (file) => {
      if (file.path === this.app.workspace.getActiveFile()?.path) void this.refresh();
    }));
    this.app.workspace.onLayoutReady(() => void this.refresh());
  }

  async saveSettings(): Promise<void> {
    await this.saveData(this.settings);
  }

  gateway(): Gateway {
    return new Gateway({ baseUrl: this.settings.nodeUrl, token: this.settings.token || undefined,
                         fetch: obsidianFetch });
  }

  /** The active note, and what kind of stigmem note it is. */
  active(): { file: TFile; note: NoteKind } | undefined {
    const file = this.app.workspace.getActiveFile();
    if (!(file instanceof TFile)) return undefined;
    return { file, note: noteKind(file.path, this.app.metadataCache.getFileCache(file)?.frontmatter) };
  }

  /** Badge the active note (header and status bar), and refresh the recall panel. */
  async refresh(): Promise<void> {
    const generation = ++this.#generation;
    const active = this.active();
    for (const leaf of this.app.workspace.getLeavesOfType(RECALL_VIEW)) {
      if (leaf.view instanceof PanelView) void leaf.view.show();
    }
    const view = this.app.workspace.getActiveViewOfType(MarkdownView);
    const header = view?.containerEl.querySelector<HTMLElement>(".view-header-title-container")
      ?? view?.containerEl.querySelector<HTMLElement>(".view-header") ?? undefined;
    header?.querySelectorAll(".stigmem-badge").forEach((old) => old.remove());
    if (this.#status) clear(this.#status);
    if (!active || active.note.kind === "other") return;
    const badge = await this.gateway().badge(active.file.path, active.note).catch((error) => ({
      state: "offline" as const, label: "node error", title: reason(error) }));
    if (generation !== this.#generation) return;  // another note was opened meanwhile
    if (header) renderBadge(header, badge);
    if (this.#status) renderBadge(this.#status, badge);
  }

  async sign(): Promise<void> {
    const active = this.active();
    const note = active?.note;
    if (!active || !note || (note.kind !== "draft" && note.kind !== "fact" && note.kind !== "conflict")) {
      new Notice("stigmem: open a draft, an edited fact note or a conflict note to sign it");
      return;
    }
    await this.app.fileManager.processFrontMatter(active.file, (fm: Record<string, unknown>) => {
      fm.sign = true;
    });
    new Notice("stigmem: sign ticked; waiting for the node…");
    const result = await this.gateway().awaitSigned(active.file.path,
                                                    note.kind === "fact" ? note.id : undefined);
    if (result.outcome === "signed") {
      new Notice(`stigmem: signed${result.factId ? ` (${result.factId.slice(0, 12)})` : ""}`);
    } else if (result.outcome === "refused") {
      new Notice(`stigmem: not signed: ${result.error}`, 10_000);
    } else {
      new Notice("stigmem: the node has not signed it yet: is `stigmem serve` running on this vault?", 10_000);
    }
    void this.refresh();
  }

  async revert(): Promise<void> {
    const active = this.active();
    if (!active || active.note.kind !== "fact") {
      new Notice("stigmem: open an edited fact note to revert it");
      return;
    }
    try {
      const path = await this.gateway().revert(active.file.path);
      new Notice(`stigmem: ${path} has its signed properties back`);
    } catch (error) {
      new Notice(`stigmem: not reverted: ${reason(error)}`, 10_000);
    }
    void this.refresh();
  }

  async retract(): Promise<void> {
    const active = this.active();
    const note = active?.note;
    if (!note || note.kind !== "fact") {
      new Notice("stigmem: open a fact note to retract it");
      return;
    }
    new ConfirmModal(this.app, `Retract this fact? A retraction (confidence 0) is signed in your name; the fact's file stays.`,
      async () => {
        try {
          const made = await this.gateway().retract(note.id);
          new Notice(`stigmem: retracted (${made.id.slice(0, 12)})`);
        } catch (error) {
          new Notice(`stigmem: not retracted: ${reason(error)}`, 10_000);
        }
        void this.refresh();
      }).open();
  }

  async openEntity(): Promise<void> {
    const active = this.active();
    const entity = entityOf(active?.note);
    if (!active || !entity) {
      new Notice("stigmem: this note names no entity");
      return;
    }
    const links = this.app.metadataCache.getFileCache(active.file)?.links ?? [];
    const target = entityNoteLink(links, entity);
    if (!target) {
      new Notice(`stigmem: no entity note is linked for ${entity}`);
      return;
    }
    await this.app.workspace.openLinkText(target, active.file.path);
  }

  async reveal(type: string): Promise<void> {
    const existing = this.app.workspace.getLeavesOfType(type)[0];
    const leaf = existing ?? this.app.workspace.getRightLeaf(false);
    if (!leaf) return;
    if (!existing) await leaf.setViewState({ type, active: true });
    await this.app.workspace.revealLeaf(leaf);
  }

  openPath(path: string): void {
    void this.app.workspace.openLinkText(path, "");
  }
}

function entityOf(note: NoteKind | undefined): string | undefined {
  return note && "entity" in note && note.entity ? note.entity : undefined;
}

/** A sidebar view: the conflicts list, or the recall panel for the open note's entity. */
interface Panel { type: string; title: string; icon: string;
                  render: (root: HTMLElement, plugin: StigmemPlugin) => Promise<void> }

const PANELS: Record<string, Panel> = {
  [CONFLICTS_VIEW]: {
    type: CONFLICTS_VIEW, title: "stigmem conflicts", icon: "git-compare",
    render: (root, plugin) => renderConflicts(root, plugin.gateway(), {
      open: (path) => plugin.openPath(path), notify: (message) => new Notice(message) }),
  },
  [RECALL_VIEW]: {
    type: RECALL_VIEW, title: "stigmem recall", icon: "brain",
    render: (root, plugin) => renderRecall(root, plugin.gateway(), entityOf(plugin.active()?.note),
                                           (path) => plugin.openPath(path)),
  },
};

export class PanelView extends ItemView {
  constructor(leaf: WorkspaceLeaf, private readonly plugin: StigmemPlugin,
              private readonly panel: Panel) {
    super(leaf);
  }
  getViewType(): string { return this.panel.type; }
  getDisplayText(): string { return this.panel.title; }
  getIcon(): string { return this.panel.icon; }
  async onOpen(): Promise<void> { await this.show(); }
  async show(): Promise<void> { await this.panel.render(this.contentEl, this.plugin); }
}

class ConfirmModal extends Modal {
  constructor(app: Plugin["app"], private readonly question: string,
              private readonly confirmed: () => Promise<void>) {
    super(app);
  }
  onOpen(): void {
    el(this.contentEl, "p", undefined, this.question);
    const row = el(this.contentEl, "div", "stigmem-actions");
    el(row, "button", "mod-warning", "Retract").onclick = () => {
      this.close();
      void this.confirmed();
    };
    el(row, "button", undefined, "Cancel").onclick = () => this.close();
  }
  onClose(): void {
    clear(this.contentEl);
  }
}
