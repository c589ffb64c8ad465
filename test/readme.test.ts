/**
 * The README's quick example is what a newcomer pastes first: it must run and print what the
 * README says it prints.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")

const section = (readme: string, heading: string): string => {
  const start = readme.indexOf(`## ${heading}`)
  const end = readme.indexOf("\n## ", start + 1)
  return readme.slice(start, end === -1 ? undefined : end)
}

const fence = "```"

const blocks = (text: string, lang: string): Array<string> =>
  [...text.matchAll(new RegExp(`${fence}${lang}\\n([\\s\\S]*?)${fence}`, "g"))].map((m) => m[1]!)

describe("README", () => {
  it("the quick example runs and prints what the README shows", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8")
    const quick = section(readme, "Quick example")
    const [code] = blocks(quick, "ts")
    const [printed] = blocks(quick, "text")
    expect(code).toContain('from "policyshield-effect"')
    // Run against the sources, so the test does not depend on a build.
    const source = code!.replace('"policyshield-effect"', JSON.stringify(join(root, "src", "index.ts")))
    const dir = join(root, "node_modules", ".cache", "readme-example")
    mkdirSync(dir, { recursive: true })
    const file = join(dir, "example.ts")
    writeFileSync(file, source)
    const output = execFileSync(process.execPath, ["--import", "tsx", file], { cwd: root, encoding: "utf8" })
    expect(output).toBe(printed)
  })
})
