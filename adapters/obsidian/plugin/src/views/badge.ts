import type { Badge } from "../model.js";
import { el } from "../dom.js";

/** The badge element: `stigmem-badge stigmem-badge--<state>`, the node's detail as tooltip. */
export function renderBadge(parent: HTMLElement, badge: Badge): HTMLElement {
  const node = el(parent, "span", `stigmem-badge stigmem-badge--${badge.state}`, badge.label);
  node.title = badge.title;
  node.setAttribute("aria-label", `stigmem: ${badge.label}`);
  return node;
}
