/**
 * `npm run test:consumer`: the package as a user gets it. Packs the library (its `prepare` build
 * included), installs the tarball into a new project whose only other dependency is `effect`,
 * compiles a strict TypeScript program against the published declarations (`strict`,
 * `exactOptionalPropertyTypes`, `skipLibCheck: false`) and runs it. Not part of `npm test`: it
 * installs from the registry (or npm's cache) and takes half a minute.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { runCommand } from "../support/runNode.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const npm = process.platform === "win32" ? "npm.cmd" : "npm"
const effectVersion = (
  JSON.parse(readFileSync(join(root, "node_modules", "effect", "package.json"), "utf8")) as {
    version: string
  }
).version

// Uses the main entry the way an application does, with the published types only.
const program = `import { Effect, Layer, Option } from "effect"
import {
  PIIDetector,
  SessionId,
  SessionManager,
  type SessionManagerOptions,
  ShieldEngine,
  ShieldPolicy,
  ToolName,
  type Verdict
} from "policyshield-effect"

const options: SessionManagerOptions = { ttl: "30 minutes", maxSessions: 100 }

const calls = Effect.gen(function* () {
  const engine = yield* ShieldEngine
  const sessions = yield* SessionManager
  const verdicts: Array<Verdict> = []
  verdicts.push(yield* engine.check({ sessionId: "c1", tool: "web_fetch", args: {} }))
  verdicts.push(yield* engine.check({ sessionId: "c1", tool: "web_fetch", args: {} }))
  verdicts.push(yield* engine.check({ sessionId: "c2", tool: "send_message", args: { to: "a@example.com" } }))
  const state = yield* sessions.get(SessionId.make("c1"))
  const count = Option.match(state, { onNone: () => -1, onSome: (s) => s.toolCount(ToolName.make("web_fetch")) })
  return [...verdicts.map((v) => \`\${v.decision}:\${v.ruleId ?? "-"}\`), String(count)].join(" ")
})

const main = Effect.gen(function* () {
  const policy = yield* ShieldPolicy.fromObject({
    shield_name: "consumer",
    version: 1,
    rules: [
      {
        id: "web-limit",
        when: { tool: "web_fetch", session: { "tool_count.web_fetch": { gte: 1 } } },
        then: "block"
      }
    ],
    taint_chain: { enabled: true, outgoing_tools: ["send_message"] }
  })
  const app = ShieldEngine.layer(policy).pipe(
    Layer.provideMerge(SessionManager.layer(options)),
    Layer.provide(PIIDetector.Default)
  )
  return yield* Effect.provide(calls, app)
})

console.log(await Effect.runPromise(main))
`

const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    lib: ["ES2022", "DOM"],
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    types: [],
    outDir: "out"
  },
  include: ["main.ts"]
}

describe("the published package", () => {
  const work = mkdtempSync(join(tmpdir(), "policyshield-consumer-"))
  afterAll(() => rmSync(work, { recursive: true, force: true }))

  const run = async (command: string, args: ReadonlyArray<string>, cwd: string) => {
    const result = await runCommand(command, args, { cwd, timeout: 300_000 })
    expect(result.status, `${command} ${args.join(" ")}\n${result.stdout}\n${result.stderr}`).toBe(0)
    return result
  }

  it("installs from its tarball, compiles strictly against its declarations and runs", async () => {
    await run(npm, ["pack", "--pack-destination", work], root)
    const tarball = readdirSync(work).find((name) => name.endsWith(".tgz"))
    expect(tarball).toBeDefined()
    const listing = await run("tar", ["-tzf", join(work, tarball!)], work)
    expect(listing.stdout).toContain("package/dist/index.js")
    expect(listing.stdout).toContain("package/dist/index.d.ts")
    expect(listing.stdout).toContain("package/dist/redis.js")
    expect(listing.stdout).not.toContain("package/src/demo/")

    const app = join(work, "app")
    await run("mkdir", ["-p", app], work)
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({
        name: "consumer",
        private: true,
        type: "module",
        dependencies: { effect: effectVersion, "policyshield-effect": `file:../${tarball}` }
      })
    )
    await run(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline"], app)
    writeFileSync(join(app, "main.ts"), program)
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify(tsconfig))
    await run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "."], app)
    const output = await run(process.execPath, [join(app, "out", "main.js")], app)
    expect(output.stdout.trim()).toBe("ALLOW:- BLOCK:web-limit BLOCK:__pii_taint__ 1")
  })
})
