/**
 * The conflicts view's content: every open conflict the token may see, both sides, and
 * one-click resolution (A wins, B wins, or a new value). The node writes the resolution fact
 * and refuses what its rules refuse (§15.6: only the owner, only an open conflict); the
 * refusal is shown under the conflict, in the node's words.
 */
import type { Conflict, FactRecord } from "@stigmem-vault/client";
import { reason, type Gateway } from "../gateway.js";
import { showValue, type Choice } from "../model.js";
import { clear, el } from "../dom.js";

export interface ConflictsHooks {
  /** Open a fact note (a vault path). */
  open?: (path: string) => void;
  /** Say what happened (Obsidian: a Notice). */
  notify?: (message: string) => void;
}

export async function renderConflicts(root: HTMLElement, gateway: Gateway,
                                      hooks: ConflictsHooks = {}): Promise<void> {
  clear(root);
  root.classList.add("stigmem-conflicts");
  const head = el(root, "div", "stigmem-view-head");
  el(head, "h4", undefined, "Open conflicts");
  const refresh = el(head, "button", "stigmem-refresh", "Refresh");
  refresh.onclick = () => void renderConflicts(root, gateway, hooks);
  let conflicts: Conflict[];
  try {
    conflicts = await gateway.openConflicts();
  } catch (error) {
    el(root, "div", "stigmem-error", `node: ${reason(error)}`);
    return;
  }
  if (conflicts.length === 0) {
    el(root, "div", "stigmem-empty", "No open conflicts.");
    return;
  }
  for (const conflict of conflicts) renderOne(root, conflict, gateway, hooks);
}

function side(cell: HTMLElement, fact: FactRecord | null, hooks: ConflictsHooks): void {
  if (!fact) {
    el(cell, "span", "stigmem-muted", "(not in the index)");
    return;
  }
  el(cell, "div", "stigmem-value", `${showValue(fact.value)}`).title = fact.value.type;
  el(cell, "div", "stigmem-meta", `${fact.source} · ${fact.confidence} · ${fact.trust_class}`);
  el(cell, "div", "stigmem-meta", `${fact.verification} · ${fact.timestamp}`);
  const link = el(cell, "a", "stigmem-fact-link", fact.id.slice(0, 12));
  link.href = "#";
  link.onclick = (event) => {
    event.preventDefault();
    if (fact.path) hooks.open?.(fact.path);
  };
}

function renderOne(root: HTMLElement, conflict: Conflict, gateway: Gateway,
                   hooks: ConflictsHooks): void {
  const card = el(root, "div", "stigmem-conflict");
  card.dataset.conflict = conflict.conflict_id;
  el(card, "div", "stigmem-conflict-title", `${conflict.relation}`);
  el(card, "div", "stigmem-meta", `${conflict.entity} · ${conflict.scope} · ` +
                                    `${conflict.conflict_id.slice(0, 12)}`);
  const sides = el(card, "div", "stigmem-sides");
  const a = el(sides, "div", "stigmem-side");
  el(a, "div", "stigmem-side-label", "A");
  side(a, conflict.fact_a, hooks);
  const b = el(sides, "div", "stigmem-side");
  el(b, "div", "stigmem-side-label", "B");
  side(b, conflict.fact_b, hooks);

  const actions = el(card, "div", "stigmem-actions");
  const status = el(card, "div", "stigmem-status");
  const choose = async (choice: Choice) => {
    status.className = "stigmem-status";
    status.textContent = "resolving…";
    try {
      const id = await gateway.resolve(conflict, choice);
      status.textContent = `resolved: ${id.slice(0, 12)}`;
      hooks.notify?.(`stigmem: conflict on ${conflict.relation} resolved (${id.slice(0, 12)})`);
      card.classList.add("stigmem-resolved");
      for (const button of Array.from(card.querySelectorAll("button, input"))) {
        (button as HTMLButtonElement).disabled = true;
      }
    } catch (error) {
      status.className = "stigmem-status stigmem-error";
      status.textContent = reason(error);
    }
  };
  el(actions, "button", "stigmem-keep-a", "A wins").onclick = () => void choose({ winner: "a" });
  el(actions, "button", "stigmem-keep-b", "B wins").onclick = () => void choose({ winner: "b" });
  const input = el(actions, "input", "stigmem-new-value");
  input.placeholder = `new ${conflict.fact_a?.value.type ?? "value"}`;
  el(actions, "button", "stigmem-use-value", "Use value").onclick =
    () => void choose({ value: input.value });
}
