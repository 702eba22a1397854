/**
 * `npm run screenshots`: every view of the plugin, rendered in headless Chromium (the Debian
 * `chromium` package, driven by playwright-core) against a live `stigmem serve` on a copy of
 * example-vault, saved as docs/*.png. A small HTTP server serves the harness page, the notes
 * (text, frontmatter and links, as Obsidian's metadata cache would give them) and a `/node`
 * proxy to the node.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";
import { chromium } from "playwright-core";
import { value } from "@stigmem-vault/client";
import { ROOT, startNodeWith } from "../../../../sdks/typescript/test/node.ts";
import { frontmatter } from "../test/notes.ts";
import { Gateway } from "../src/gateway.ts";

const HERE = resolve(ROOT, "adapters/obsidian/plugin");
const DOCS = join(HERE, "docs");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const STATIC: Record<string, [string, string]> = {
  "/": [join(HERE, "harness/index.html"), "text/html"],
  "/page.js": [join(HERE, "harness/dist/page.js"), "text/javascript"],
  "/styles.css": [join(HERE, "styles.css"), "text/css"],
  "/harness.css": [join(HERE, "harness/harness.css"), "text/css"],
};

function links(text: string): Array<{ link: string; displayText?: string }> {
  return [...text.matchAll(/\[\[([^\]|\\]+)(?:\\?\|([^\]]+))?\]\]/g)]
    .map((m) => ({ link: m[1]!, displayText: m[2] ?? m[1]! }));
}

async function proxy(request: IncomingMessage, response: ServerResponse, node: string): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const headers: Record<string, string> = {};
  for (const key of ["content-type", "authorization", "accept"]) {
    const v = request.headers[key];
    if (typeof v === "string") headers[key] = v;
  }
  const answer = await fetch(node + request.url!.slice("/node".length), {
    method: request.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined,
  });
  response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
  response.end(Buffer.from(await answer.arrayBuffer()));
}

async function main(): Promise<void> {
  const node = await startNodeWith({ init: ["--owner", "user:alice", "--from", join(ROOT, "example-vault")],
                                     serve: ["--auth", "none", "--sync-interval", "0"] });
  const server = createServer((request, response) => {
    const url = new URL(request.url!, "http://harness");
    if (url.pathname.startsWith("/node/")) {
      proxy(request, response, node.url).catch((error) => { response.writeHead(502); response.end(String(error)); });
      return;
    }
    if (url.pathname === "/note") {
      const path = url.searchParams.get("path") ?? "";
      const file = resolve(node.vault, path);
      if (!file.startsWith(node.vault + sep)) { response.writeHead(400); response.end(); return; }
      const text = readFileSync(file, "utf8");
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ text, cache: { frontmatter: frontmatter(text), links: links(text) } }));
      return;
    }
    const found = STATIC[url.pathname];
    if (!found) { response.writeHead(404); response.end(); return; }
    response.writeHead(200, { "content-type": found[1] });
    response.end(readFileSync(found[0]));
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const address = server.address();
  const base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  const profile = mkdtempSync(join(tmpdir(), "stigmem-chromium-"));
  // A fresh profile each run (playwright passes it as --user-data-dir).
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1100, height: 640 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const gateway = new Gateway({ baseUrl: node.url });
  try {
    const page = await browser.newPage();
    const shoot = async (name: string, query: Record<string, string>, ready = "[data-ready]") => {
      const search = new URLSearchParams({ node: node.url, ...query });
      await page.goto(`${base}/?${search}`);
      await page.waitForSelector("body[data-ready]", { timeout: 20_000 });
      if (await page.getAttribute("body", "data-ready") === "error") {
        throw new Error(`${name}: ${await page.textContent("body")}`);
      }
      await page.waitForSelector(ready, { timeout: 20_000 });
      await page.screenshot({ path: join(DOCS, `${name}.png`) });
      console.log(`screenshots: docs/${name}.png`);
    };
    const valid = "facts/company/acme/project/68/atlas/project.owner--c95cbac684a1.md";
    await shoot("badge-fact-valid", { note: valid }, ".view-header .stigmem-badge--valid");
    const vouched = await gateway.client.assertFact({ entity: "service:billing", relation: "service:oncall",
      value: value.ref("user:bob"), source: "agent:scout", scope: "team" });
    await shoot("badge-fact-vouched", { note: vouched.path! }, ".view-header .stigmem-badge--vouched");
    const edited = "facts/team/acme/service/87/billing/service.health--2b5783754bf4.md";
    const signed = readFileSync(join(node.vault, edited), "utf8");
    writeFileSync(join(node.vault, edited), signed.replace(/^confidence: .*$/m, "confidence: 0.4"));
    await shoot("badge-pending-edit", { note: edited }, ".view-header .stigmem-badge--pending");
    await gateway.revert(edited);
    const conflicted = "facts/team/acme/project/68/atlas/project.deadline--ce0757e7ac2c.md";
    await shoot("badge-fact-conflict", { note: conflicted }, ".view-header .stigmem-badge--conflict");
    await shoot("badge-entity", { note: "entities/acme/project/68/atlas.md" }, ".view-header .stigmem-badge--conflict");
    await shoot("recall", { scene: "recall", note: "entities/acme/project/68/atlas.md" }, ".stigmem-recall .stigmem-fact");
    // A second conflict, between two agents' numbers, so the view lists more than one.
    for (const [source, n] of [["agent:codex", 3], ["agent:scout", 5]] as const) {
      await gateway.client.assertFact({ entity: "service:billing", relation: "service:replicas",
                                        value: value.number(n), source, scope: "team" });
    }
    const note = "conflicts/team/acme/project/68/atlas/project.deadline--6ca84538a0a9.md";
    await shoot("conflicts", { scene: "conflicts", note }, ".stigmem-conflict");
    await page.click(".stigmem-conflict >> nth=0 >> .stigmem-keep-b");
    await page.waitForSelector(".stigmem-conflict.stigmem-resolved", { timeout: 20_000 });
    await page.screenshot({ path: join(DOCS, "conflicts-resolved.png") });
    console.log("screenshots: docs/conflicts-resolved.png");
    await shoot("settings", { scene: "settings" }, ".stigmem-connection.stigmem-ok");
  } finally {
    await browser.close();
    server.close();
    await node.stop();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
