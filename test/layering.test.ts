/**
 * The layering rules are enforced by `npm run lint` (Biome's noRestrictedImports, per folder in
 * biome.json). Each rule is shown failing here on a deliberate violation, and passing on an
 * import it allows: probe files are linted with the project's own configuration in a scratch
 * copy of the layout, so that nothing is written into src/.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { runCommand } from "./support/runNode.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const scratch = join(tmpdir(), `policyshield-layering-${process.pid}`)
const biome = join(root, "node_modules", "@biomejs", "biome", "bin", "biome")

const config = JSON.parse(readFileSync(join(root, "biome.json"), "utf8")) as Record<string, unknown>
// The scratch copy is not a git repository.
mkdirSync(scratch, { recursive: true })
writeFileSync(
  join(scratch, "biome.json"),
  JSON.stringify({ ...config, $schema: undefined, vcs: { enabled: false } })
)

/** Lints `source` as the file at `path`; the names of the rules it breaks. */
const lint = async (path: string, source: string): Promise<ReadonlyArray<string>> => {
  const file = join(scratch, path)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, source)
  const run = await runCommand(process.execPath, [biome, "lint", "--reporter=json", path], { cwd: scratch })
  rmSync(file)
  const report = JSON.parse(run.stdout) as { diagnostics: ReadonlyArray<{ category: string }> }
  return report.diagnostics.map((d) => d.category)
}

const restricted = "lint/style/noRestrictedImports"

const cases: ReadonlyArray<{
  readonly rule: string
  readonly path: string
  readonly violation: string
  readonly allowed: string
}> = [
  {
    rule: "the core imports no Effect runtime service",
    path: "src/internal/core/probe.ts",
    violation: 'import { Effect } from "effect"\n\nexport const x = Effect.void\n',
    allowed: 'import { HashMap } from "effect"\n\nexport const x = HashMap.empty()\n'
  },
  {
    rule: "the core imports nothing of the shell",
    path: "src/internal/core/probe.ts",
    violation: 'import { make } from "../shell/memory.js"\n\nexport const x = make\n',
    allowed: 'import { bitOf } from "./taints.js"\n\nexport const x = bitOf\n'
  },
  {
    rule: "the core imports nothing of the engine",
    path: "src/internal/core/probe.ts",
    violation: 'import { decide } from "../engine/decide.js"\n\nexport const x = decide\n',
    allowed: 'import type { PIIType } from "../../PIIType.js"\n\nexport type X = PIIType\n'
  },
  {
    rule: "a model imports nothing of ours but other models",
    path: "src/Verdict.ts",
    violation: 'import { bitOf } from "./internal/core/taints.js"\n\nexport const x = bitOf\n',
    allowed: 'import { PIIType } from "./PIIType.js"\n\nexport const x = PIIType\n'
  },
  {
    rule: "a model does not import a service",
    path: "src/SessionState.ts",
    violation: 'import { SessionManager } from "./SessionManager.js"\n\nexport const x = SessionManager\n',
    allowed: 'import { SessionId } from "./SessionId.js"\n\nexport const x = SessionId\n'
  },
  {
    rule: "the engine reaches sessions only through the SessionManager tag",
    path: "src/ShieldEngine.ts",
    violation: 'import { bitOf } from "./internal/core/taints.js"\n\nexport const x = bitOf\n',
    allowed: 'import { SessionManager } from "./SessionManager.js"\n\nexport const x = SessionManager\n'
  },
  {
    rule: "the engine's internals do not reach the stores",
    path: "src/internal/engine/probe.ts",
    violation: 'import { make } from "../shell/memory.js"\n\nexport const x = make\n',
    allowed: 'import { Verdict } from "../../Verdict.js"\n\nexport const x = Verdict\n'
  },
  {
    rule: "nothing imports the demo",
    path: "src/SessionManager.ts",
    violation: 'import { script } from "./demo/main.js"\n\nexport const x = script\n',
    allowed: 'import { SessionEvent } from "./SessionEvent.js"\n\nexport const x = SessionEvent\n'
  },
  {
    rule: "the main entry never loads the Redis module",
    path: "src/index.ts",
    violation: 'export { layerRedis } from "./redis.js"\n',
    allowed: 'export { SessionManager } from "./SessionManager.js"\n'
  },
  {
    rule: "the main entry never loads the @effect/ai module",
    path: "src/index.ts",
    violation: 'export { guardToolkit } from "./ai.js"\n',
    allowed: 'export { ShieldEngine } from "./ShieldEngine.js"\n'
  },
  {
    rule: "the main entry never loads @effect/ai itself",
    path: "src/index.ts",
    violation: 'export { Toolkit } from "@effect/ai"\n',
    allowed: 'export { Verdict } from "./Verdict.js"\n'
  },
  {
    rule: "the @effect/ai guard reaches sessions only through the engine and the SessionManager tag",
    path: "src/ai.ts",
    violation: 'import { make } from "./internal/shell/memory.js"\n\nexport const x = make\n',
    allowed: 'import { ShieldEngine } from "./ShieldEngine.js"\n\nexport const x = ShieldEngine\n'
  },
  {
    rule: "the @effect/ai guard's internals do not reach the core",
    path: "src/internal/ai/probe.ts",
    violation: 'import { bitOf } from "../core/taints.js"\n\nexport const x = bitOf\n',
    allowed: 'import { Toolkit } from "@effect/ai"\n\nexport const x = Toolkit\n'
  },
  {
    rule: "only the Redis store loads ioredis",
    path: "src/internal/shell/memory.ts",
    violation: 'import { Redis } from "ioredis"\n\nexport const x = Redis\n',
    allowed: 'import { Ref } from "effect"\n\nexport const x = Ref.make\n'
  }
]

describe("the layering rules (npm run lint)", () => {
  afterAll(() => rmSync(scratch, { recursive: true, force: true }))

  for (const { rule, path, violation, allowed } of cases) {
    it(`${rule}: a violation fails, an allowed import passes`, async () => {
      expect(await lint(path, violation)).toContain(restricted)
      expect(await lint(path, allowed)).toEqual([])
    })
  }
})
