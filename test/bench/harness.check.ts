/**
 * `npm run bench:check`: `npm run bench` is how this project shows its speed and memory; this
 * keeps the harness runnable. It runs the quick variant in a child process (which starts its own
 * children for the large size) and checks that every implementation, workload and target is
 * reported. It asserts no duration and no ratio. Not part of `npm test`: the quick harness takes
 * a minute or so, which `.ci/run` spends separately.
 */
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { redisServerAvailable } from "../support/redisServer.js"
import { runTs } from "../support/runNode.js"

describe("the benchmark harness", () => {
  it("runs every implementation and workload and reports the targets", async () => {
    const main = fileURLToPath(new URL("./main.ts", import.meta.url))
    const run = await runTs(main, {
      flags: ["--expose-gc"],
      timeout: 600_000,
      env: { ...process.env, BENCH_QUICK: "1" }
    })
    expect(run.status, run.stderr).toBe(0)
    // The machine, the command and the date head the report: the figures go into docs with them.
    for (const line of ["- Machine: ", "- Node v", "- Command: `BENCH_QUICK=1", "- Date: "]) {
      expect(run.stdout).toContain(line)
    }
    for (const workload of ["W1 increment", "W2 getTaints", "W2 get (builds a snapshot)"]) {
      // Its figures and its ratios to the floor, at every size: interleaved and in child processes.
      expect(run.stdout).toContain(`**${workload}** (ns per operation`)
      expect(run.stdout).toContain(`**${workload} ÷ (0) floor**`)
      expect(tableRow(run.stdout, `**${workload}** (ns`, "(1) this library")).toHaveLength(3)
    }
    expect(run.stdout).toContain("| N = 1,000 | N = 10,000 | N = 30,000 |")
    expect(run.stdout).toContain("(1) a parked session (all but 1,000 of them parked)")
    expect(run.stdout).toMatch(
      /A flood of 100,000 new ids against the default options .* \(within the budget\)/
    )
    for (const heading of ["**W3 flood**", "**W4 concurrency**", "**W5 memory**"]) {
      expect(run.stdout).toContain(heading)
    }
    if (redisServerAvailable) expect(run.stdout).toContain("**W6 Redis**")
    for (const label of [
      "(0) floor",
      "(1) this library",
      "(1) with metrics off",
      "(1) with an event subscriber",
      "(1) with tracing on",
      "(2) this library",
      "(3) lru-cache",
      "(4) lru-cache",
      "(5) a plain Map"
    ]) {
      expect(run.stdout).toContain(label)
    }
    expect(run.stdout).toContain("exact: 20000 calls")
    expect(run.stdout).toContain("0 of 10 tainted sessions lost")

    // Every tracked ratio has a figure, a bound and a verdict, at each of the three sizes.
    const targets = section(run.stdout, "**Targets**")
    for (const [name, sizes] of [
      ["W1 increment: (1) / (0) floor", ["1,000", "10,000", "30,000"]],
      ["W2 getTaints: (1) / (0) floor", ["1,000", "10,000", "30,000"]],
      ["W2 get: (1) / (0) floor", ["1,000", "10,000", "30,000"]]
    ] as const) {
      for (const n of sizes) {
        const row = targets.find((line) => line.startsWith(`| ${name}, N = ${n} |`))
        expect(row, `${name} at ${n}`).toBeDefined()
        expect(row).toMatch(/\| ≤ \d\.\d\d \| \d+\.\d\d \[\d+\.\d\d–\d+\.\d\d\] \|.*\| (yes|\*\*no\*\*)/)
      }
    }
    const beside = section(run.stdout, "**Beside the targets**")
    for (const name of [
      "W1 increment: (1) / (3) lru-cache in Effect.sync",
      "W1 increment: growth of (1)",
      "W1 increment: growth of (0) floor",
      "W3 flood / W1 increment of (1)",
      "W1 increment: (1) / (1) with metrics off",
      "W5 heap bytes per live session: (1) / (3)"
    ]) {
      expect(
        beside.some((line) => line.startsWith(`| ${name}`) && !line.includes("not run")),
        name
      ).toBe(true)
    }
    expect(run.stdout).toMatch(/Total time: \d+ s/)
  }, 620_000)
})

/** The markdown table lines that follow the first line starting with `heading`. */
const section = (stdout: string, heading: string): Array<string> => {
  const lines = stdout.split("\n")
  const start = lines.findIndex((line) => line.startsWith(heading))
  if (start === -1) return []
  const rest = lines.slice(start + 2)
  const end = rest.findIndex((line) => !line.startsWith("|"))
  return end === -1 ? rest : rest.slice(0, end)
}

/** The cells after the label of the row starting with `label`, in the table under `heading`. */
const tableRow = (stdout: string, heading: string, label: string): Array<string> => {
  const row = section(stdout, heading).find((line) => line.startsWith(`| ${label}`))
  return row === undefined ? [] : row.split(" | ").slice(1)
}
