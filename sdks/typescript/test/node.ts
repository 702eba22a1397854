/**
 * A real `stigmem serve` for the tests: a fresh vault in a temp dir, a private STIGMEM_HOME,
 * port 0 on 127.0.0.1; ready when the node prints "listening on http://HOST:PORT" (a
 * deadline, no sleeps).
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const DEADLINE_MS = 30_000;
// dist-test/test/node.js -> the repository root, four levels up.
export const ROOT = resolve(fileURLToPath(import.meta.url), "../../../../..");
export const STIGMEM = process.env.STIGMEM ?? join(ROOT, ".venv", "bin", "stigmem");

export interface Node {
  url: string;
  vault: string;
  env: NodeJS.ProcessEnv;
  stderr: () => string;
  /** Run the stigmem CLI on this node's vault. */
  cli: (...args: string[]) => Promise<string>;
  stop: () => Promise<void>;
}

export async function startNode(...options: string[]): Promise<Node> {
  return startNodeWith({ serve: options });
}

/** `init` arguments after the vault (default: `--owner user:alice`; e.g. add `--from
 *  example-vault`), and `serve` options. The Obsidian plugin's tests start theirs here too. */
export async function startNodeWith({ init = ["--owner", "user:alice"], serve = [] }:
                                    { init?: string[]; serve?: string[] }): Promise<Node> {
  if (!existsSync(STIGMEM)) {
    throw new Error(`${STIGMEM} is missing: run ./scripts/setup at the repository root`);
  }
  const dir = mkdtempSync(join(tmpdir(), "stigmem-ts-"));
  const vault = join(dir, "vault");
  const env: NodeJS.ProcessEnv = { ...process.env, STIGMEM_HOME: join(dir, "home") };
  delete env.STIGMEM_VAULT;
  const run = promisify(execFile);
  const cli = async (...args: string[]): Promise<string> =>
    (await run(STIGMEM, ["--vault", vault, ...args], { env, timeout: DEADLINE_MS })).stdout;
  await run(STIGMEM, ["init", vault, ...init], { env, timeout: DEADLINE_MS });

  const proc = spawn(STIGMEM, ["--vault", vault, "serve", "--host", "127.0.0.1", "--port", "0",
                               ...serve], { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  const url = await new Promise<string>((ready, fail) => {
    const late = () => fail(new Error(`serve not listening within ${DEADLINE_MS} ms:\n${stderr}`));
    const timer = setTimeout(late, DEADLINE_MS);
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (chunk: string) => {
      stderr += chunk;
      const found = /listening on (http:\/\/\S+?):? /.exec(stderr);
      if (found) {
        clearTimeout(timer);
        ready(found[1]!);
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`serve exited ${code}:\n${stderr}`));
    });
  });
  return {
    url, vault, env, cli,
    stderr: () => stderr,
    stop: () => stop(proc).finally(() => rmSync(dir, { recursive: true, force: true })),
  };
}

function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), DEADLINE_MS);
    proc.on("exit", () => {
      clearTimeout(timer);
      done();
    });
    proc.kill("SIGTERM");
  });
}
