/**
 * The README and docs/ are what a newcomer reads first, so what they show must be true: every
 * TypeScript block type-checks against the sources, every block followed by "It prints:" prints
 * exactly that, and the README stays a short door to the rest.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { runCommand, runTs } from "./support/runNode.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const documents = ["README.md", ...readdirSync(join(root, "docs")).map((name) => `docs/${name}`)].filter(
  (name) => name.endsWith(".md")
)

interface Block {
  readonly name: string
  readonly code: string
  /** The text block the document says it prints, when it says so. */
  readonly prints: string | undefined
}

const fence = "```"
const blockPattern = new RegExp(
  `${fence}ts\\n([\\s\\S]*?)${fence}(?:\\s*\\n\\s*It prints:\\s*\\n\\s*${fence}text\\n([\\s\\S]*?)${fence})?`,
  "g"
)

const blocks: ReadonlyArray<Block> = documents.flatMap((document) =>
  [...readFileSync(join(root, document), "utf8").matchAll(blockPattern)].map((match, index) => ({
    name: `${document.replace(/[/.]/g, "_")}_${index + 1}`,
    code: match[1]!,
    prints: match[2]
  }))
)

const packageName = /"policyshield-effect(\/[a-z]+)?"/g
const sourceOf = (subpath: string | undefined) => join(root, "src", `${subpath ?? "/index"}.ts`)

describe("the documentation", () => {
  it("README.md is at most 16 KB", () => {
    expect(readFileSync(join(root, "README.md")).byteLength).toBeLessThanOrEqual(16 * 1024)
  })

  it("speaks of this library only", () => {
    for (const document of documents) {
      const text = readFileSync(join(root, document), "utf8")
      expect(text, document).not.toMatch(/\bthe card\b|specification/i)
    }
  })

  it("has TypeScript examples, runnable ones among them", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(6)
    expect(blocks.filter((block) => block.prints !== undefined).length).toBeGreaterThanOrEqual(3)
  })

  it("every TypeScript block compiles against the sources", async () => {
    const dir = join(root, "node_modules", ".cache", "doc-blocks")
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    for (const block of blocks) writeFileSync(join(dir, `${block.name}.ts`), block.code)
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        extends: join(root, "tsconfig.json"),
        // A sample may define what the reader goes on to use.
        compilerOptions: { noUnusedLocals: false, noUnusedParameters: false, paths: pathsOf() },
        include: ["*.ts"]
      })
    )
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
    const run = await runCommand(process.execPath, [tsc, "--noEmit", "-p", dir], { timeout: 300_000 })
    expect(run.stdout + run.stderr).toBe("")
    expect(run.status).toBe(0)
  }, 300_000)

  for (const block of blocks.filter((b) => b.prints !== undefined)) {
    it(`${block.name} prints what the text says`, async () => {
      const dir = join(root, "node_modules", ".cache", "doc-runs")
      mkdirSync(dir, { recursive: true })
      const file = join(dir, `${block.name}.ts`)
      // Run against the sources, so the test does not depend on a build.
      writeFileSync(
        file,
        block.code.replace(packageName, (_, subpath: string | undefined) => JSON.stringify(sourceOf(subpath)))
      )
      const run = await runTs(file, { cwd: root, timeout: 120_000 })
      expect(run.stderr).toBe("")
      expect(run.stdout).toBe(block.prints)
    }, 130_000)
  }
})

function pathsOf(): Record<string, Array<string>> {
  const paths: Record<string, Array<string>> = { "policyshield-effect": [sourceOf(undefined)] }
  for (const name of readdirSync(join(root, "src"))) {
    if (name.endsWith(".ts") && name !== "index.ts") {
      paths[`policyshield-effect/${name.slice(0, -3)}`] = [join(root, "src", name)]
    }
  }
  return paths
}
