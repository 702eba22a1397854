/** Plain DOM helpers (no Obsidian augmentations), so the views render the same in Obsidian and
 *  in the headless harness. */
export function el<K extends keyof HTMLElementTagNameMap>(
  parent: HTMLElement, tag: K, cls?: string, text?: string,
): HTMLElementTagNameMap[K] {
  const node = parent.ownerDocument.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}

export function clear(node: HTMLElement): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}
