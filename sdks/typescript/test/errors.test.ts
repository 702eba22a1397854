/**
 * Error answers our node never sends but upstream nodes and proxies do: `detail` as an object
 * or a list, a body that is not JSON. A real HTTP server on loopback answers them.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { StigmemClient, StigmemError, StigmemTransportError } from "../src/index.js";

const answers: Record<string, { status: number; body: string; headers?: Record<string, string> }> = {
  "/v1/me": { status: 422, body: JSON.stringify({ detail: [{ loc: ["body", "value"], msg: "bad" }] }) },
  "/healthz": { status: 409, body: JSON.stringify({ detail: { reason: "conflict exists" } }) },
  "/.well-known/stigmem": { status: 502, body: "<html>Bad Gateway</html>\n<p>nginx</p>" },
  "/v1/federation/peers": {
    status: 503, headers: { "retry-after": "7" },
    body: JSON.stringify({ detail: "storage full", error: { code: "storage_full", message: "disk full" } }),
  },
  "/v1/gardens": { status: 200, body: "not json" },
};

let server: Server;
let client: StigmemClient;
before(async () => {
  server = createServer((request, response) => {
    const answer = answers[new URL(request.url ?? "/", "http://x").pathname]!;
    response.writeHead(answer.status, answer.headers).end(answer.body);
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  client = new StigmemClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});
after(() => new Promise<void>((closed) => server.close(() => closed())));

async function rejection(promise: Promise<unknown>): Promise<StigmemError> {
  const error = await promise.then(() => assert.fail("the call succeeded"), (e: unknown) => e);
  assert.ok(error instanceof StigmemError, String(error));
  return error;
}

test("upstream's object and list details are shown as JSON, never [object Object]", async () => {
  const list = await rejection(client.me());
  assert.equal(list.status, 422);
  assert.equal(list.code, "http_422");
  assert.equal(list.message, '[{"loc":["body","value"],"msg":"bad"}]');
  const object = await rejection(client.health());
  assert.equal(object.message, '{"reason":"conflict exists"}');
  assert.equal(String(object), 'StigmemError: {"reason":"conflict exists"}');
});

test("a body that is not JSON gives its first line; Retry-After is read", async () => {
  const html = await rejection(client.wellKnown());
  assert.deepEqual([html.status, html.code, html.message], [502, "http_502", "<html>Bad Gateway</html>"]);
  const full = await rejection(client.federationPeers());
  assert.deepEqual([full.code, full.message, full.retryAfter], ["storage_full", "storage full", 7]);
});

test("a 200 that is not JSON is a StigmemTransportError", async () => {
  await assert.rejects(client.listGardens(), (error: unknown) =>
    error instanceof StigmemTransportError && /not JSON: not json/.test(error.message));
});
