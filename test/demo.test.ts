import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { runTs } from "./support/runNode.js"

describe("the demo (npm start)", () => {
  it("runs the guarded agent, shows the limit and the taint chain refusing calls, and exits 0", async () => {
    const main = fileURLToPath(new URL("../src/demo/main.ts", import.meta.url))
    const run = await runTs(main, { timeout: 60_000 })
    expect(run.stderr).toBe("")
    expect(run.status).toBe(0)
    const lines = run.stdout.split("\n")
    /** The call's line and the lines that follow it: the verdict, what the model was told, a taint. */
    const call = (session: string, tool: string, params: object) => {
      const at = lines.indexOf(`[${session}] model calls ${tool} ${JSON.stringify(params)}`)
      expect(at, `${session} calls ${tool}`).toBeGreaterThanOrEqual(0)
      return lines.slice(at + 1, at + 4).map((line) => line.slice(session.length + 3))
    }
    const refusal = (ruleId: string) =>
      expect.stringMatching(`^  model is told: \\{.*"ruleId":"${ruleId}".*\\}$`)

    expect(call("telegram:alice", "web_fetch", { url: "https://example.com/c" }).slice(0, 1)).toEqual([
      "  shield: ALLOW"
    ])
    expect(call("telegram:alice", "web_fetch", { url: "https://example.com/d" }).slice(0, 2)).toEqual([
      "  shield: BLOCK rate-limit-web",
      refusal("rate-limit-web")
    ])
    expect(call("slack:bob", "read_file", { path: "crm/customers.csv" })).toEqual([
      "  shield: ALLOW",
      '  model is told: "name,email\\nJane Roe,jane.roe@example.org\\n"',
      "  session tainted: EMAIL"
    ])
    expect(
      call("slack:bob", "send_message", { to: "#general", text: "one customer: Jane Roe" }).slice(0, 2)
    ).toEqual(["  shield: BLOCK __pii_taint__", refusal("__pii_taint__")])
    expect(
      call("telegram:alice", "send_message", {
        to: "alice",
        text: "here is your summary of pages a to c"
      }).slice(0, 1)
    ).toEqual(["  shield: ALLOW"])
    expect(lines).toContain(
      "[slack:bob] model says: The shield refused to let me post from this conversation."
    )
    expect(run.stdout).toContain("sessions: 3 live (2 tainted), 7 calls counted")
  })
})
