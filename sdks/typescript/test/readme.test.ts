/** The README's example type-checks against the built package (`dist/`), as a user imports it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

// dist-test/test/readme.test.js -> the package directory, two levels up.
const PACKAGE = resolve(fileURLToPath(import.meta.url), "../../..");

test("the README example compiles", async () => {
  const readme = readFileSync(join(PACKAGE, "README.md"), "utf8");
  const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example, "no ```ts block in README.md");
  assert.match(example, /from "@stigmem-vault\/client"/);
  // Inside the package, so the import resolves through package.json's "exports".
  const dir = mkdtempSync(join(PACKAGE, ".readme-check-"));
  try {
    writeFileSync(join(dir, "example.ts"), example);
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
      // Not extending ../tsconfig.json: tsc would map dist/ back to src/ as its own output.
      compilerOptions: {
        target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true,
        exactOptionalPropertyTypes: true, noEmit: true, types: ["node"],
      },
      files: ["example.ts"],
    }));
    const tsc = join(PACKAGE, "node_modules", "typescript", "bin", "tsc");
    const run = await promisify(execFile)(process.execPath, [tsc, "-p", dir])
      .catch((error: { stdout?: string; code?: number }) => error);
    assert.ok(!("code" in run) || run.code === 0, `tsc failed:\n${run.stdout ?? ""}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
