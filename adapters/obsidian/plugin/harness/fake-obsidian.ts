/**
 * Just enough of the `obsidian` module for the plugin to load and render in a plain page: a
 * workspace with one note pane and a right sidebar of leaves, the metadata cache, settings
 * controls, notices. esbuild puts this in place of `obsidian` for the harness bundle only
 * (scripts/build.mjs --harness); the plugin's code is the same main.js code.
 *
 * requestUrl goes to the harness server's `/node` proxy, which forwards to the real node:
 * a page cannot reach another origin without CORS, and Obsidian's requestUrl has no CORS.
 */

type Callback = (...args: unknown[]) => unknown;

function div(parent: HTMLElement | null, cls: string, text?: string): HTMLElement {
  const node = document.createElement("div");
  node.className = cls;
  if (text !== undefined) node.textContent = text;
  parent?.appendChild(node);
  return node;
}

export class TFile {
  constructor(readonly path: string) {}
  get basename(): string { return this.path.slice(this.path.lastIndexOf("/") + 1).replace(/\.md$/, ""); }
  get extension(): string { return "md"; }
}

export interface CachedNote { frontmatter?: Record<string, unknown>; links?: Array<{ link: string; displayText?: string }> }

class Events {
  readonly #handlers = new Map<string, Callback[]>();
  on(name: string, callback: Callback): { name: string } {
    this.#handlers.set(name, [...(this.#handlers.get(name) ?? []), callback]);
    return { name };
  }
  trigger(name: string, ...args: unknown[]): void {
    for (const handler of this.#handlers.get(name) ?? []) handler(...args);
  }
}

export class MetadataCache extends Events {
  readonly notes = new Map<string, CachedNote>();
  getFileCache(file: TFile): CachedNote | null { return this.notes.get(file.path) ?? null; }
}

export class MarkdownView {
  readonly containerEl: HTMLElement;
  readonly contentEl: HTMLElement;
  constructor(readonly file: TFile, text: string, frontmatter: Record<string, unknown>) {
    this.containerEl = div(null, "workspace-leaf-content");
    const header = div(this.containerEl, "view-header");
    div(div(header, "view-header-title-container"), "view-header-title", file.basename);
    this.contentEl = div(this.containerEl, "view-content markdown-preview-view");
    const props = div(this.contentEl, "metadata-container");
    div(props, "metadata-title", "Properties");
    for (const [key, value] of Object.entries(frontmatter)) {
      const row = div(props, "metadata-property");
      div(row, "metadata-property-key", key);
      div(row, "metadata-property-value", String(value));
    }
    const body = document.createElement("pre");
    body.className = "note-body";
    body.textContent = text.replace(/^---\n[\s\S]*?\n---\n/, "");
    this.contentEl.appendChild(body);
  }
}

export class WorkspaceLeaf {
  view: unknown;
  readonly el: HTMLElement;
  constructor(readonly app: App, parent: HTMLElement) {
    this.el = div(parent, "workspace-leaf");
  }
  async setViewState({ type }: { type: string; active?: boolean }): Promise<void> {
    const factory = this.app.workspace.factories.get(type);
    if (!factory) throw new Error(`no view ${type}`);
    const view = factory(this) as ItemView;
    this.view = view;
    this.el.appendChild(view.containerEl);
    await view.onOpen();
  }
}

export class Workspace extends Events {
  readonly factories = new Map<string, (leaf: WorkspaceLeaf) => unknown>();
  readonly leaves: WorkspaceLeaf[] = [];
  activeFile: TFile | null = null;
  activeView: MarkdownView | null = null;
  constructor(private readonly app: App, readonly main: HTMLElement, readonly side: HTMLElement) {
    super();
  }
  getActiveFile(): TFile | null { return this.activeFile; }
  getActiveViewOfType(type: unknown): MarkdownView | null {
    return type === MarkdownView ? this.activeView : null;
  }
  getLeavesOfType(type: string): WorkspaceLeaf[] {
    return this.leaves.filter((l) => (l.view as ItemView | undefined)?.getViewType() === type);
  }
  getRightLeaf(): WorkspaceLeaf {
    const leaf = new WorkspaceLeaf(this.app, this.side);
    this.leaves.push(leaf);
    return leaf;
  }
  async revealLeaf(): Promise<void> {}
  onLayoutReady(callback: () => void): void { callback(); }
  async openLinkText(path: string): Promise<void> { this.trigger("open-link", path); }
}

export class App {
  readonly workspace: Workspace;
  readonly metadataCache = new MetadataCache();
  readonly fileManager = {
    processFrontMatter: async (_file: TFile, fn: (fm: Record<string, unknown>) => void) => fn({}),
  };
  constructor(main: HTMLElement, side: HTMLElement) {
    this.workspace = new Workspace(this, main, side);
  }
}

export class Component {
  registerEvent(_ref: unknown): void {}
  register(_cb: () => void): void {}
}

export class Plugin extends Component {
  readonly tabs: PluginSettingTab[] = [];
  readonly commands: Array<{ id: string; name: string }> = [];
  constructor(readonly app: App, readonly manifest: { id: string }) {
    super();
  }
  async loadData(): Promise<unknown> { return (window as unknown as { harnessData: unknown }).harnessData; }
  async saveData(data: unknown): Promise<void> {
    (window as unknown as { harnessData: unknown }).harnessData = data;
  }
  addSettingTab(tab: PluginSettingTab): void { this.tabs.push(tab); }
  registerView(type: string, factory: (leaf: WorkspaceLeaf) => unknown): void {
    this.app.workspace.factories.set(type, factory);
  }
  addStatusBarItem(): HTMLElement { return div(document.getElementById("status-bar"), "status-bar-item"); }
  addCommand(command: { id: string; name: string }): void { this.commands.push(command); }
  addRibbonIcon(_icon: string, title: string, _cb: () => void): HTMLElement {
    return div(document.getElementById("ribbon"), "ribbon-icon", title);
  }
}

export abstract class ItemView extends Component {
  readonly app: App;
  readonly containerEl: HTMLElement;
  readonly contentEl: HTMLElement;
  constructor(readonly leaf: WorkspaceLeaf) {
    super();
    this.app = leaf.app;
    this.containerEl = div(null, "workspace-leaf-content");
    const header = div(this.containerEl, "view-header");
    div(header, "view-header-title", "");
    this.contentEl = div(this.containerEl, "view-content");
    queueMicrotask(() => { header.firstElementChild!.textContent = this.getDisplayText(); });
  }
  abstract getViewType(): string;
  abstract getDisplayText(): string;
  async onOpen(): Promise<void> {}
}

export class PluginSettingTab {
  readonly containerEl: HTMLElement = div(null, "vertical-tab-content");
  constructor(readonly app: App, readonly plugin: Plugin) {}
}

class TextComponent {
  readonly inputEl = document.createElement("input");
  constructor(parent: HTMLElement) { parent.appendChild(this.inputEl); }
  setPlaceholder(text: string): this { this.inputEl.placeholder = text; return this; }
  setValue(value: string): this { this.inputEl.value = value; return this; }
  onChange(cb: (value: string) => unknown): this {
    this.inputEl.oninput = () => void cb(this.inputEl.value);
    return this;
  }
}

class ButtonComponent {
  readonly buttonEl = document.createElement("button");
  constructor(parent: HTMLElement) { parent.appendChild(this.buttonEl); }
  setButtonText(text: string): this { this.buttonEl.textContent = text; return this; }
  onClick(cb: () => unknown): this { this.buttonEl.onclick = () => void cb(); return this; }
}

export class Setting {
  readonly settingEl: HTMLElement;
  readonly #info: HTMLElement;
  readonly #control: HTMLElement;
  constructor(parent: HTMLElement) {
    this.settingEl = div(parent, "setting-item");
    this.#info = div(this.settingEl, "setting-item-info");
    this.#control = div(this.settingEl, "setting-item-control");
  }
  setName(name: string): this { div(this.#info, "setting-item-name", name); return this; }
  setDesc(desc: string): this { div(this.#info, "setting-item-description", desc); return this; }
  addText(cb: (text: TextComponent) => unknown): this { cb(new TextComponent(this.#control)); return this; }
  addButton(cb: (button: ButtonComponent) => unknown): this { cb(new ButtonComponent(this.#control)); return this; }
}

export class Notice {
  constructor(message: string) { div(document.getElementById("notices"), "notice", message); }
}

export class Modal {
  readonly contentEl: HTMLElement = div(null, "modal-content");
  constructor(readonly app: App) {}
  open(): void { document.body.appendChild(this.contentEl); this.onOpen(); }
  close(): void { this.contentEl.remove(); this.onClose(); }
  onOpen(): void {}
  onClose(): void {}
}

export async function requestUrl(request: { url: string; method?: string; headers?: Record<string, string>;
                                            body?: string }) {
  const target = new URL(request.url);
  const answer = await fetch(`/node${target.pathname}${target.search}`, {
    method: request.method ?? "GET", headers: request.headers, body: request.body,
  });
  const arrayBuffer = await answer.arrayBuffer();
  const headers: Record<string, string> = {};
  answer.headers.forEach((value, key) => { headers[key] = value; });
  return { status: answer.status, headers, arrayBuffer, text: new TextDecoder().decode(arrayBuffer) };
}
