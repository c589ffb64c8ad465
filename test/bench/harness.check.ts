/**
 * `npm run bench:check`: `npm run bench` is how this project shows its speed and memory; this
 * keeps the harness runnable. It runs the quick variant in a child process and checks that every
 * implementation and workload is reported. It asserts no duration. Not part of `npm test`: the
 * quick harness takes a minute or two, which `.ci/run` spends separately.
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
    for (const heading of [
      "**W1**",
      "**W2 getTaints**",
      "**W2 get**",
      "**W3 flood**",
      "**W4 concurrency**"
    ]) {
      expect(run.stdout).toContain(heading)
    }
    expect(run.stdout).toContain("**W5 memory**")
    if (redisServerAvailable) expect(run.stdout).toContain("**W6 Redis**")
    for (const label of [
      "(1) this library",
      "(2) this library",
      "(3) lru-cache",
      "(4) lru-cache",
      "(5) a plain Map"
    ]) {
      expect(run.stdout).toContain(label)
    }
    expect(run.stdout).toContain("exact: 20000 calls")
    expect(run.stdout).toContain("0 of 10 tainted sessions lost")
    expect(run.stdout).toContain("**Targets**")
  }, 620_000)
})
