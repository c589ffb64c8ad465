import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { runTs } from "./support/runNode.js"

describe("the demo (npm start)", () => {
  it("runs the scripted agent, shows the limit and the taint chain blocking, and exits 0", async () => {
    const main = fileURLToPath(new URL("../src/demo/main.ts", import.meta.url))
    const run = await runTs(main, { timeout: 60_000 })
    expect(run.stderr).toBe("")
    expect(run.status).toBe(0)
    const lines = run.stdout.split("\n")
    const line = (n: number) => lines.find((l) => l.startsWith(`${n} `)) ?? ""
    expect(line(4)).toMatch(/telegram:alice\s+web_fetch\s+BLOCK\s+rate-limit-web/)
    expect(line(5)).toMatch(/slack:bob\s+read_file\s+ALLOW.*EMAIL/)
    expect(line(6)).toMatch(/slack:bob\s+send_message\s+BLOCK\s+__pii_taint__/)
    expect(line(12)).toMatch(/telegram:alice\s+send_message\s+ALLOW/)
    expect(run.stdout).toContain("sessions: 3 live (2 tainted)")
  })
})
