// One build script for the three bundles, all with esbuild:
//   node scripts/build.mjs            main.js, the plugin Obsidian loads (CommonJS, `obsidian`
//                                     external: Obsidian provides it at run time)
//   node scripts/build.mjs --tests    dist-test/*.test.mjs, the node --test suites
//   node scripts/build.mjs --harness  harness/dist/, the headless-Chromium stand-in for Obsidian
// (screenshots.mjs goes to dist-test/, at the depth of the tests: the live-node helper finds
// the repository from its own place.)
// The TypeScript client is bundled from its source (sdks/typescript/src), so a clean checkout
// builds without building the client first. No timestamps or absolute paths go into main.js:
// the same sources give the same bytes.
import { build } from "esbuild";
import { readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CLIENT = resolve(HERE, "../../../sdks/typescript/src/index.ts");
const common = {
  absWorkingDir: HERE,
  bundle: true,
  alias: { "@stigmem-vault/client": CLIENT },
  logLevel: "warning",
  legalComments: "none",
  target: "es2022",
};

const mode = process.argv[2];
if (mode === undefined) {
  await build({
    ...common, entryPoints: ["src/main.ts"], outfile: "main.js", format: "cjs",
    platform: "browser", external: ["obsidian", "electron"], sourcemap: false,
    banner: { js: "/* stigmem Obsidian plugin: built from adapters/obsidian/plugin (npm run build) */" },
  });
} else if (mode === "--tests") {
  const tests = readdirSync(join(HERE, "test")).filter((f) => f.endsWith(".test.ts"));
  await build({
    ...common, entryPoints: tests.map((f) => `test/${f}`), outdir: "dist-test",
    outExtension: { ".js": ".mjs" }, format: "esm", platform: "node",
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
} else if (mode === "--harness") {
  await build({
    ...common, entryPoints: ["harness/page.ts"], outfile: "harness/dist/page.js", format: "iife",
    platform: "browser", alias: { ...common.alias, obsidian: join(HERE, "harness/fake-obsidian.ts") },
  });
  await build({
    ...common, entryPoints: ["harness/screenshots.ts"], outfile: "dist-test/screenshots.mjs",
    format: "esm", platform: "node", external: ["playwright-core"],
  });
} else {
  console.error(`build: unknown mode ${mode}`);
  process.exit(2);
}
