/**
 * `npm run bench`: every implementation on the same generated sequences, arranged so that the
 * noise of a shared machine cancels out of the ratios. Up to N = 100,000 the implementations
 * run in this process, each on its own table, taking turns chunk by chunk; at N = 1,000,000
 * each runs alone in a child process, round after round. Prints markdown (machine, command and
 * date first, the Targets table last) and writes every figure to bench-results.json (ignored by
 * git). Not a test: nothing here asserts a duration; the targets are computed and reported.
 * What the environment can narrow or shrink is in config.ts.
 */
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg, release, totalmem } from "node:os"
import { relative } from "node:path"
import { Effect } from "effect"
import { concurrencyWorkload } from "./concurrency.js"
import {
  CHUNK,
  CONCURRENCY_ROUNDS,
  INTERLEAVED_MAX,
  included,
  MEASURED,
  onlySizes,
  onlySubjects,
  onlyWorkloads,
  quick,
  REDIS_OPERATIONS,
  ROUNDS,
  runs,
  runsAt,
  SIZES,
  WARMUP
} from "./config.js"
import { floodWorkload } from "./flood.js"
import { gc, machineMeter } from "./measure.js"
import { memoryWorkload } from "./memory.js"
import { redisWorkload } from "./redis.js"
import { type Phase, report, type SteadyRun } from "./report.js"
import { steadySeparate } from "./separate.js"
import { steadyWorkloads } from "./steady.js"
import { subject, subjects } from "./subjects.js"

const main = async () => {
  const started = Date.now()
  const header = machineHeader()
  console.log(header)
  console.error(`bench: ${quick ? "quick form, " : ""}sizes ${SIZES.join(", ")}`)

  const machine: Array<Phase> = []
  const metered = async <A>(phase: string, run: () => A | Promise<A>): Promise<A> => {
    const stop = machineMeter()
    const start = Date.now()
    const value = await run()
    machine.push({ phase, seconds: (Date.now() - start) / 1000, load: stop() })
    return value
  }

  const steady: Array<SteadyRun> = []
  if (runs("W1") || runs("W2")) {
    // One figure per turn in this process (a round's figure is its whole run, see round.ts).
    const spec = { warmup: WARMUP, measured: MEASURED, chunk: CHUNK, perBlock: 1 }
    for (const n of SIZES) {
      const at = subjects.filter((s) => runsAt(s, n))
      if (at.length === 0) continue
      const how: SteadyRun["how"] = n > INTERLEAVED_MAX ? "rounds" : "interleaved"
      const phase = `W1, W2 at N = ${n.toLocaleString("en-US")}: ${at.length} implementations ${
        how === "interleaved" ? "interleaved" : `× ${ROUNDS} rounds of child processes`
      }`
      console.error(`bench: ${phase}`)
      const sized = { ...spec, sessions: n }
      const figures = await metered(phase, () =>
        how === "interleaved"
          ? steadyWorkloads(sized, at, progress)
          : steadySeparate(sized, at, ROUNDS, progress)
      )
      steady.push({ sessions: n, how, figures })
      gc()
    }
  }
  const flood = runs("W3")
    ? await metered("W3 flood, interleaved", () =>
        floodWorkload(
          subjects.filter((s) => included(s.key) && s.steadyOnly === undefined),
          included("effect") ? subject("effect") : undefined,
          { warmup: WARMUP, measured: MEASURED, chunk: CHUNK, perBlock: 1 },
          progress
        )
      )
    : undefined
  gc()
  const concurrency = runs("W4")
    ? await metered("W4 concurrency, whole runs alternated", () =>
        concurrencyWorkload(included, CONCURRENCY_ROUNDS, progress)
      )
    : undefined
  const memory = runs("W5")
    ? await metered("W5 memory, one after another", () => memoryWorkload(included, progress))
    : undefined
  const redis = runs("W6")
    ? await metered("W6 Redis, one after another", () => Effect.runPromise(redisWorkload(REDIS_OPERATIONS)))
    : undefined

  const { markdown, targets, beside } = report({ steady, flood, concurrency, memory, redis, machine })
  const seconds = (Date.now() - started) / 1000
  console.log(`${markdown}\nTotal time: ${seconds.toFixed(0)} s; load average at the end: ${load()}.`)
  writeFileSync(
    "bench-results.json",
    `${JSON.stringify(
      {
        header,
        quick,
        seconds,
        filters: { workloads: onlyWorkloads, sizes: onlySizes, subjects: onlySubjects },
        settings: {
          chunk: CHUNK,
          warmup: WARMUP,
          measured: MEASURED,
          rounds: ROUNDS,
          interleavedMax: INTERLEAVED_MAX
        },
        steady,
        flood,
        concurrency,
        memory,
        redis,
        machine,
        targets,
        beside
      },
      null,
      2
    )}\n`
  )
  console.error(`bench: done in ${seconds.toFixed(0)} s; figures in bench-results.json`)
}

const progress = (line: string): void => console.error(`  ${line}`)

/** Machine, versions, command, date and commit: the figures mean nothing without them. */
const machineHeader = (): string => {
  const cpu = cpus()
  const env = ["BENCH_QUICK", "BENCH_WORKLOADS", "BENCH_SIZES", "BENCH_SUBJECTS", "BENCH_ROUNDS"]
    .filter((name) => process.env[name] !== undefined)
    .map((name) => `${name}=${process.env[name]}`)
  const command =
    process.env.npm_lifecycle_event === "bench"
      ? "npm run bench"
      : `node ${process.execArgv.join(" ")} ${process.argv
          .slice(1)
          .map((arg) => relative(process.cwd(), arg) || arg)
          .join(" ")}`
  return [
    "## policyshield-effect benchmark",
    "",
    `- Machine: ${cpu[0]?.model ?? "unknown CPU"}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
      `Linux ${release()}; load average at the start: ${load()}`,
    `- Node ${process.version}, effect ${version("effect")}, lru-cache ${version("lru-cache")}; commit ${commit()}`,
    `- Command: \`${[...env, command].join(" ")}\``,
    `- Date: ${new Date().toISOString().replace("T", " ").slice(0, 16)} UTC`,
    "",
    `How to read: up to N = ${INTERLEAVED_MAX.toLocaleString("en-US")} every implementation has its own table in ` +
      `this process and they take turns, ${CHUNK.toLocaleString("en-US")} operations each, over the same ` +
      "sequence (after a warm-up taken the same way), so all see the same machine; a ratio is taken turn " +
      "by turn and reported as its median [p25–p75]. (Shorter turns, such as 2,000 operations, make a " +
      "cheap implementation pay the cost of each switch as a large share and lower every ratio to the " +
      `floor: see CHUNK in test/bench/config.ts.) Above, each implementation runs alone in a child process ` +
      `(A B C, B C A, ... for ${ROUNDS} rounds); a ratio is taken round by round, median [min–max]. Wall ` +
      "clock and process CPU time (every thread, background collection included) are both given. (0) is a " +
      "floor, not an implementation: the least an Effect Ref over an Effect HashMap costs, one update per " +
      "call on a table of N, removing the victim the sequence names in the same update (1 call in 10) but " +
      "never finding one itself.",
    ""
  ].join("\n")
}

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")

const version = (name: string): string => {
  try {
    const url = new URL(`../../node_modules/${name}/package.json`, import.meta.url)
    return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version
  } catch {
    return "unknown"
  }
}

const commit = (): string => {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim()
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      encoding: "utf8"
    }).trim()
    return dirty === "" ? head : `${head} with uncommitted changes`
  } catch {
    return "unknown"
  }
}

await main()
