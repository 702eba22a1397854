/**
 * A `fetch` over Obsidian's `requestUrl`, for the TypeScript client. Obsidian's own window
 * fetch is subject to CORS (the app's origin is not the node's), requestUrl is not, so the
 * node needs no CORS setting for the plugin.
 */
import { requestUrl } from "obsidian";

export const obsidianFetch: typeof fetch = async (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  const headers: Record<string, string> = {};
  new Headers(init?.headers).forEach((value, key) => { headers[key] = value; });
  const answer = await requestUrl({
    url, method: init?.method ?? "GET", headers, throw: false,
    ...(typeof init?.body === "string" ? { body: init.body } : {}),
  });
  return new Response(answer.status === 204 ? null : answer.arrayBuffer,
                      { status: answer.status, headers: answer.headers });
};
