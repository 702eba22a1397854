/**
 * The plugin's settings: the node's URL and token. Kept with Obsidian's saveData, i.e. in
 * `.obsidian/plugins/stigmem/data.json`, which a stigmem vault's .gitignore keeps out of git
 * (`.obsidian/*`, spec §8.4): the token never lands in the vault's tracked files.
 */
import { PluginSettingTab, Setting, type App, type Plugin } from "obsidian";
import { reason, type Gateway } from "./gateway.js";
import { clear, el } from "./dom.js";
import { DEFAULT_SETTINGS, type StigmemSettings } from "./settings-data.js";

export { DEFAULT_SETTINGS, readSettings, type StigmemSettings } from "./settings-data.js";

export interface SettingsHost extends Plugin {
  settings: StigmemSettings;
  saveSettings(): Promise<void>;
  gateway(): Gateway;
}

export class StigmemSettingTab extends PluginSettingTab {
  constructor(app: App, private readonly host: SettingsHost) {
    super(app, host);
  }

  display(): void {
    const { containerEl } = this;
    clear(containerEl);
    el(containerEl, "h3", undefined, "stigmem");
    new Setting(containerEl)
      .setName("Node URL")
      .setDesc("The local node this vault is served by (stigmem serve), e.g. http://127.0.0.1:8765.")
      .addText((text) => text.setPlaceholder(DEFAULT_SETTINGS.nodeUrl).setValue(this.host.settings.nodeUrl)
        .onChange(async (value) => {
          this.host.settings.nodeUrl = value.trim() || DEFAULT_SETTINGS.nodeUrl;
          await this.host.saveSettings();
        }));
    new Setting(containerEl)
      .setName("Token")
      .setDesc("A token from `stigmem token create` (leave empty for a node started with --auth none). " +
               "Stored in this plugin's data.json, which git never tracks.")
      .addText((text) => {
        text.inputEl.type = "password";
        text.setPlaceholder("stg_…").setValue(this.host.settings.token).onChange(async (value) => {
          this.host.settings.token = value.trim();
          await this.host.saveSettings();
        });
      });
    const result = el(containerEl, "div", "stigmem-connection");
    new Setting(containerEl)
      .setName("Connection")
      .setDesc("Ask the node who this token is.")
      .addButton((button) => button.setButtonText("Test connection").onClick(async () => {
        result.className = "stigmem-connection";
        result.textContent = "testing…";
        try {
          result.textContent = await this.host.gateway().testConnection();
          result.classList.add("stigmem-ok");
        } catch (error) {
          result.textContent = `failed: ${reason(error)}`;
          result.classList.add("stigmem-error");
        }
      }));
    containerEl.appendChild(result);
  }
}
