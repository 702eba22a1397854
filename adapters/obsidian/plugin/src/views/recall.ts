/**
 * The recall panel's content for one entity: its live facts as the node sees them, then what
 * recall ranks for it (the entity's facts and its graph neighbours, with scores).
 */
import type { FactRecord } from "@stigmem-vault/client";
import { reason, type Gateway } from "../gateway.js";
import { showValue } from "../model.js";
import { clear, el } from "../dom.js";

export async function renderRecall(root: HTMLElement, gateway: Gateway, entity: string | undefined,
                                   open?: (path: string) => void): Promise<void> {
  clear(root);
  root.classList.add("stigmem-recall");
  if (!entity) {
    el(root, "div", "stigmem-empty", "Open a fact, entity or conflict note to recall its entity.");
    return;
  }
  el(root, "h4", undefined, "Recall");
  el(root, "div", "stigmem-entity", entity);
  let live: FactRecord[];
  let recalled;
  try {
    [live, recalled] = await Promise.all([gateway.liveFacts(entity), gateway.recall(entity)]);
  } catch (error) {
    el(root, "div", "stigmem-error", `node: ${reason(error)}`);
    return;
  }
  el(root, "h5", undefined, `Live facts (${live.length})`);
  const list = el(root, "ul", "stigmem-facts");
  for (const fact of live) row(list, fact, undefined, open);
  const others = recalled.filter((s) => !live.some((f) => f.id === s.fact.id));
  el(root, "h5", undefined, `Recalled around it (${others.length})`);
  const more = el(root, "ul", "stigmem-facts");
  for (const scored of others) row(more, scored.fact, scored, open);
}

function row(list: HTMLElement, fact: FactRecord,
             scored: { score: number; hop_distance: number } | undefined,
             open?: (path: string) => void): void {
  const item = el(list, "li", fact.contradicted ? "stigmem-fact stigmem-contradicted" : "stigmem-fact");
  const head = el(item, "div", "stigmem-fact-head");
  el(head, "span", "stigmem-relation", fact.relation);
  el(head, "span", "stigmem-value", showValue(fact.value));
  const meta = [fact.source, fact.scope, `conf ${fact.confidence}`, fact.verification];
  if (fact.contradicted) meta.push("conflict");
  if (scored) meta.push(`score ${scored.score.toFixed(3)}`, `hop ${scored.hop_distance}`);
  if (scored && scored.hop_distance > 0) meta.unshift(fact.entity);
  el(item, "div", "stigmem-meta", meta.join(" · "));
  if (fact.path && open) {
    item.classList.add("stigmem-clickable");
    item.onclick = () => open(fact.path!);
  }
}
