/**
 * `npm run bench`: every implementation on the same generated sequences, in one process, one
 * after another, with a full garbage collection between them. Prints markdown tables and
 * writes the figures to bench-results.json (ignored by git). Not a test: nothing here asserts a
 * duration; the targets are computed and reported.
 *
 * BENCH_QUICK=1 runs smaller sizes, for checking the harness itself. For profiling one part
 * (`node --cpu-prof`), BENCH_WORKLOADS (e.g. "W1,W3"), BENCH_SIZES (e.g. "100000") and
 * BENCH_SUBJECTS (e.g. "effect,lruEffect") narrow the run.
 */
import { writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { Effect, HashMap } from "effect"
import { type SessionId, SessionManager, type SessionManagerService } from "../../src/index.js"
import { type RedisFigures, redisWorkload } from "./redis.js"
import { type Call, fresh, picks, sessionId, steady, TOOLS } from "./sequence.js"
import { LruSessionStore } from "./stores.js"
import { type Driver, type Subject, subjects } from "./subjects.js"

const quick = process.env.BENCH_QUICK === "1"
const gc = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("run with node --expose-gc (npm run bench does)")
  collect()
  collect()
}

const list = (name: string): ReadonlyArray<string> | undefined =>
  process.env[name]?.split(",").map((s) => s.trim())
const onlyWorkloads = list("BENCH_WORKLOADS")
const onlySubjects = list("BENCH_SUBJECTS")
const runs = (workload: string) => onlyWorkloads === undefined || onlyWorkloads.includes(workload)
const included = (subject: Subject) => onlySubjects === undefined || onlySubjects.includes(subject.key)

const SIZES =
  list("BENCH_SIZES")?.map(Number) ?? (quick ? [1_000, 10_000] : [1_000, 10_000, 100_000, 1_000_000])
const SPEC_PORT_MAX = 100_000
const MEASURED = quick ? 20_000 : 200_000
const WARMUP = quick ? 5_000 : 20_000
const FLOOD_SIZE = quick ? 10_000 : 100_000
const TAINTED_IN_FLOOD = 10
const SPEC_PORT_FLOOD_CALLS = 2_000
const FIBERS = quick ? 1_000 : 10_000
const OPS_PER_FIBER = 20
const CONCURRENT_SESSIONS = 1_000
const MEMORY_SESSIONS = quick ? 100_000 : 1_000_000
const REDIS_OPERATIONS = quick ? 2_000 : 20_000

interface Row {
  readonly workload: string
  readonly subject: Subject["key"]
  readonly sessions: number
  readonly operations: number
  readonly nsPerOp: number
  readonly note?: string
}

const rows: Array<Row> = []
const record = (row: Row) => {
  rows.push(row)
  const note = row.note === undefined ? "" : ` (${row.note})`
  console.error(`  ${row.workload} ${row.subject} N=${row.sessions}: ${row.nsPerOp.toFixed(0)} ns/op${note}`)
}

const SEGMENTS = 4

/**
 * The measured calls in four consecutive segments; the time of the median segment, scaled to
 * the whole. A single garbage collection then moves one segment, not the figure.
 */
const medianOfSegments = <A>(items: ReadonlyArray<A>, run: (batch: ReadonlyArray<A>) => number): number => {
  const size = Math.ceil(items.length / SEGMENTS)
  const times: Array<number> = []
  for (let i = 0; i < items.length; i += size) {
    const batch = items.slice(i, i + size)
    times.push((run(batch) / batch.length) * items.length)
  }
  times.sort((a, b) => a - b)
  const mid = times.length >> 1
  return times.length % 2 === 1 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2
}

const fill = (driver: Driver, ids: ReadonlyArray<SessionId>) => {
  driver.increments(ids.map((id) => ({ id, tool: TOOLS[0]! })))
}

// W1 steady increments and W2 reads, at every size, on the same instance.
const steadyAndReads = () => {
  for (const n of SIZES) {
    const sequence = steady({ sessions: n, warmup: WARMUP, measured: MEASURED, newShare: 0.1, seed: n })
    const reads = picks(sequence.liveAtEnd, MEASURED, n + 1)
    for (const subject of subjects.filter(included)) {
      if (subject.key === "specPort" && n > SPEC_PORT_MAX) continue
      if (subject.sizes !== undefined && !subject.sizes.includes(n)) continue
      gc()
      const driver = subject.make(n)
      fill(driver, sequence.fill)
      driver.increments(sequence.warmup)
      const ns = medianOfSegments(sequence.measured, driver.increments)
      record({
        workload: "W1",
        subject: subject.key,
        sessions: n,
        operations: MEASURED,
        nsPerOp: ns / MEASURED
      })
      // Every subject, the floor too, must hold exactly N sessions, or the comparison is unfair.
      if (driver.liveSessions() !== n) {
        throw new Error(`${subject.key}: expected ${n} live sessions, found ${driver.liveSessions()}`)
      }
      for (const [workload, read] of [
        ["W2 getTaints", driver.getTaints],
        ["W2 get", driver.gets]
      ] as const) {
        read(reads.slice(0, WARMUP))
        const readNs = medianOfSegments(reads, read)
        record({
          workload,
          subject: subject.key,
          sessions: n,
          operations: MEASURED,
          nsPerOp: readNs / MEASURED
        })
      }
    }
  }
}

// W3: every call a new id against a full table, a few tainted sessions among the oldest.
const flood = () => {
  const n = FLOOD_SIZE
  const base = fresh(0, n)
  const tainted = base.slice(0, TAINTED_IN_FLOOD)
  const warm = fresh(n, WARMUP).map((id, i): Call => ({ id, tool: TOOLS[i % TOOLS.length]! }))
  for (const subject of subjects.filter((s) => included(s) && s.steadyOnly === undefined)) {
    const calls = subject.key === "specPort" ? SPEC_PORT_FLOOD_CALLS : MEASURED
    const measured = fresh(n + WARMUP, calls).map((id, i): Call => ({ id, tool: TOOLS[i % TOOLS.length]! }))
    gc()
    const driver = subject.make(n)
    fill(driver, base)
    driver.addTaints(tainted, "EMAIL")
    if (subject.key !== "specPort") driver.increments(warm)
    const ns = medianOfSegments(measured, driver.increments)
    const survived = driver.stillTainted(tainted)
    record({
      workload: "W3",
      subject: subject.key,
      sessions: n,
      operations: calls,
      nsPerOp: ns / calls,
      note: `${TAINTED_IN_FLOOD - survived} of ${TAINTED_IN_FLOOD} tainted sessions lost`
    })
  }
}

// W4: many fibers at once against the same operations run one after another.
const concurrency = () => {
  const ids = fresh(0, CONCURRENT_SESSIONS)
  const plan = Array.from({ length: FIBERS }, (_, f) =>
    Array.from(
      { length: OPS_PER_FIBER },
      (_, k): Call => ({
        id: ids[(f * 31 + k * 7) % CONCURRENT_SESSIONS]!,
        tool: TOOLS[(f + k) % TOOLS.length]!
      })
    )
  )
  const total = FIBERS * OPS_PER_FIBER
  const variants: ReadonlyArray<{
    readonly subject: Subject["key"]
    readonly make: () => { increment: (c: Call) => Effect.Effect<unknown>; totalCalls: () => number }
  }> = [
    {
      subject: "effect",
      make: () => {
        const sm: SessionManagerService = Effect.runSync(
          SessionManager.make({ maxSessions: CONCURRENT_SESSIONS })
        )
        return {
          increment: (c) => Effect.orDie(sm.increment(c.id, c.tool)),
          totalCalls: () => Effect.runSync(Effect.orDie(sm.stats)).totalCalls
        }
      }
    },
    {
      subject: "lruEffect",
      make: () => {
        const store = new LruSessionStore(CONCURRENT_SESSIONS, 3_600_000)
        return {
          increment: (c) => Effect.sync(() => store.increment(c.id, c.tool)),
          totalCalls: () => {
            let sum = 0
            for (const s of store.cache.values()) sum += s.totalCalls
            return sum
          }
        }
      }
    }
  ]
  for (const variant of variants.filter(
    (v) => onlySubjects === undefined || onlySubjects.includes(v.subject)
  )) {
    for (const mode of ["sequential", "concurrent"] as const) {
      gc()
      const target = variant.make()
      const program =
        mode === "sequential"
          ? Effect.gen(function* () {
              for (const calls of plan) for (const c of calls) yield* target.increment(c)
            })
          : Effect.forEach(
              plan,
              (calls) =>
                Effect.gen(function* () {
                  for (const c of calls) yield* target.increment(c)
                }),
              { concurrency: "unbounded", discard: true }
            )
      const start = process.hrtime.bigint()
      Effect.runSync(program)
      const ns = Number(process.hrtime.bigint() - start)
      const counted = target.totalCalls()
      record({
        workload: `W4 ${mode}`,
        subject: variant.subject,
        sessions: CONCURRENT_SESSIONS,
        operations: total,
        nsPerOp: ns / total,
        note: counted === total ? `exact: ${counted} calls` : `LOST UPDATES: ${counted} of ${total}`
      })
    }
  }
}

// W5: retained heap per live session, 5 tools counted and 2 taints each.
const memory = (): Record<string, number> => {
  const out: Record<string, number> = {}
  const measure = (key: string, build: () => unknown) => {
    gc()
    const before = process.memoryUsage().heapUsed
    let kept: unknown = build()
    gc()
    const after = process.memoryUsage().heapUsed
    out[key] = (after - before) / MEMORY_SESSIONS
    console.error(`  W5 ${key}: ${out[key]!.toFixed(0)} bytes/session`)
    kept = undefined
    return kept
  }
  if (onlySubjects === undefined || onlySubjects.includes("effect"))
    measure("effect", () => {
      const sm = Effect.runSync(SessionManager.make({ maxSessions: MEMORY_SESSIONS }))
      Effect.runSync(
        Effect.gen(function* () {
          for (let i = 0; i < MEMORY_SESSIONS; i++) {
            const id = sessionId(i)
            for (const tool of TOOLS) yield* Effect.orDie(sm.increment(id, tool))
            yield* Effect.orDie(sm.addTaint(id, "EMAIL"))
            yield* Effect.orDie(sm.addTaint(id, "PHONE"))
          }
        })
      )
      return sm
    })
  if (onlySubjects === undefined || onlySubjects.includes("lruEffect"))
    measure("lruEffect", () => {
      const store = new LruSessionStore(MEMORY_SESSIONS, 3_600_000)
      Effect.runSync(
        Effect.gen(function* () {
          for (let i = 0; i < MEMORY_SESSIONS; i++) {
            const id = sessionId(i)
            for (const tool of TOOLS) yield* Effect.sync(() => store.increment(id, tool))
            yield* Effect.sync(() => store.addTaint(id, "EMAIL"))
            yield* Effect.sync(() => store.addTaint(id, "PHONE"))
          }
        })
      )
      return store
    })
  // Not an implementation: what keeping each session's counts as a ready-made Effect HashMap
  // (so a snapshot would not have to build one) would add per session.
  if (onlySubjects === undefined || onlySubjects.includes("effect"))
    measure("countsHashMap", () =>
      Array.from({ length: MEMORY_SESSIONS }, () => {
        let counts = HashMap.empty<string, number>()
        for (const tool of TOOLS) counts = HashMap.set(counts, tool, 1)
        return counts
      })
    )
  return out
}

// ---------------------------------------------------------------------------------------------
// Report

const LABEL: Record<Subject["key"], string> = Object.fromEntries(
  subjects.map((s) => [s.key, s.label])
) as Record<Subject["key"], string>
const find = (workload: string, subject: Subject["key"], sessions: number) =>
  rows.find((r) => r.workload === workload && r.subject === subject && r.sessions === sessions)
const ns = (v: number) => v.toLocaleString("en-US", { maximumFractionDigits: 0 })
const perSecond = (nsPerOp: number) => (1e9 / nsPerOp).toLocaleString("en-US", { maximumFractionDigits: 0 })
const fmt = (row: Row | undefined) =>
  row === undefined ? "–" : `${ns(row.nsPerOp)} ns (${perSecond(row.nsPerOp)}/s)`

const report = (memoryFigures: Record<string, number>, redisFigures: ReadonlyArray<RedisFigures>) => {
  const lines: Array<string> = []
  const keys = subjects.map((s) => s.key)
  for (const workload of ["W1", "W2 getTaints", "W2 get"]) {
    lines.push(`**${workload}** (ns per operation, operations per second)`, "")
    lines.push(`| Implementation | ${SIZES.map((n) => `N = ${n.toLocaleString("en-US")}`).join(" | ")} |`)
    lines.push(`|---|${SIZES.map(() => "---").join("|")}|`)
    for (const key of keys)
      lines.push(`| ${LABEL[key]} | ${SIZES.map((n) => fmt(find(workload, key, n))).join(" | ")} |`)
    lines.push("")
  }
  lines.push(`**W3 flood** (N = ${FLOOD_SIZE.toLocaleString("en-US")}, every call a new id)`, "")
  lines.push("| Implementation | ns per call | calls/s | tainted sessions lost |", "|---|---|---|---|")
  for (const key of keys) {
    const row = find("W3", key, FLOOD_SIZE)
    if (row !== undefined) {
      lines.push(`| ${LABEL[key]} | ${ns(row.nsPerOp)} | ${perSecond(row.nsPerOp)} | ${row.note ?? ""} |`)
    }
  }
  lines.push("")
  lines.push(
    `**W4 concurrency** (${FIBERS.toLocaleString("en-US")} fibers × ${OPS_PER_FIBER} increments over ${CONCURRENT_SESSIONS.toLocaleString("en-US")} sessions)`,
    ""
  )
  lines.push("| Implementation | one after another | concurrent fibers | totals |", "|---|---|---|---|")
  for (const key of ["effect", "lruEffect"] as const) {
    const s = find("W4 sequential", key, CONCURRENT_SESSIONS)
    const c = find("W4 concurrent", key, CONCURRENT_SESSIONS)
    lines.push(`| ${LABEL[key]} | ${fmt(s)} | ${fmt(c)} | ${c?.note ?? ""} |`)
  }
  lines.push("")
  lines.push(
    `**W5 memory** (${MEMORY_SESSIONS.toLocaleString("en-US")} sessions, 5 tools and 2 taints each)`,
    ""
  )
  lines.push("| Implementation | heap bytes per live session |", "|---|---|")
  for (const key of ["effect", "lruEffect"] as const)
    lines.push(`| ${LABEL[key]} | ${ns(memoryFigures[key] ?? Number.NaN)} |`)
  lines.push(
    `| (for comparison) an Effect HashMap of 5 tool counts, alone | ${ns(memoryFigures.countsHashMap ?? Number.NaN)} |`
  )
  lines.push("")

  const big = SIZES.includes(100_000) ? 100_000 : SIZES[SIZES.length - 1]!
  const ratio = (a: Row | undefined, b: Row | undefined) =>
    a === undefined || b === undefined ? Number.NaN : a.nsPerOp / b.nsPerOp
  const targets: Array<readonly [string, number, number, string]> = [
    [
      `W1 at N = ${ns(big)}: (1) / (3)`,
      ratio(find("W1", "effect", big), find("W1", "lruEffect", big)),
      3,
      "≤"
    ],
    [`W1 at N = ${ns(big)}: (1) / (4)`, ratio(find("W1", "effect", big), find("W1", "lru", big)), 4, "≤"],
    [
      `W1 growth of (1): N = ${ns(SIZES[SIZES.length - 1]!)} / N = ${ns(SIZES[0]!)}`,
      ratio(find("W1", "effect", SIZES[SIZES.length - 1]!), find("W1", "effect", SIZES[0]!)),
      3,
      "≤"
    ],
    [
      `W3 / W1 of (1) at N = ${ns(FLOOD_SIZE)}`,
      ratio(find("W3", "effect", FLOOD_SIZE), find("W1", "effect", FLOOD_SIZE)),
      2,
      "≤"
    ],
    ...SIZES.filter((n) => n >= 10_000 && n <= SPEC_PORT_MAX).map(
      (n) =>
        [
          `W1 at N = ${ns(n)}: (5) / (1)`,
          ratio(find("W1", "specPort", n), find("W1", "effect", n)),
          1,
          ">"
        ] as const
    ),
    ...SIZES.filter((n) => find("W1", "effectNoMetrics", n) !== undefined).map(
      (n) =>
        [
          `W1 at N = ${ns(n)}: (1) / (1) with metrics off`,
          ratio(find("W1", "effect", n), find("W1", "effectNoMetrics", n)),
          1.15,
          "≤"
        ] as const
    ),
    [
      "W5: (1) bytes / (3) bytes",
      (memoryFigures.effect ?? Number.NaN) / (memoryFigures.lruEffect ?? Number.NaN),
      1,
      "≤"
    ]
  ]
  if (redisFigures.length > 0) {
    lines.push(
      `**W6 Redis** (${redisFigures[0]!.operations.toLocaleString("en-US")} increments over 100 sessions, private redis-server on loopback)`,
      ""
    )
    lines.push("| Implementation | fibers | operations/s | updates lost |", "|---|---|---|---|")
    for (const f of redisFigures) {
      lines.push(`| ${f.variant} | ${f.fibers} | ${perSecond(1e9 / f.opsPerSecond)} | ${f.lostUpdates} |`)
    }
    lines.push("")
  }
  lines.push("**Targets** (ratios from this run)", "")
  lines.push("| Target | ratio | bound | met |", "|---|---|---|---|")
  for (const [name, value, bound, op] of targets) {
    const met = op === "≤" ? value <= bound : value > bound
    lines.push(`| ${name} | ${value.toFixed(2)} | ${op} ${bound} | ${met ? "yes" : "**no**"} |`)
  }
  return { markdown: lines.join("\n"), targets }
}

const main = async () => {
  const started = Date.now()
  console.error(
    `bench: Node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"}${quick ? " (quick)" : ""}`
  )
  if (runs("W1") || runs("W2")) steadyAndReads()
  if (runs("W3")) flood()
  if (runs("W4")) concurrency()
  const memoryFigures = runs("W5") ? memory() : {}
  const redisFigures = runs("W6") ? await Effect.runPromise(redisWorkload(REDIS_OPERATIONS)) : []
  const { markdown, targets } = report(memoryFigures, redisFigures)
  const header = `Node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"} (${cpus().length} cores), ${new Date().toISOString().slice(0, 10)}, \`npm run bench\`${quick ? " with BENCH_QUICK=1" : ""}`
  console.log(`${header}\n\n${markdown}`)
  writeFileSync(
    "bench-results.json",
    `${JSON.stringify({ node: process.version, cpu: cpus()[0]?.model, quick, rows, memory: memoryFigures, redis: redisFigures, targets }, null, 2)}\n`
  )
  console.error(
    `bench: done in ${((Date.now() - started) / 1000).toFixed(0)} s; figures in bench-results.json`
  )
}

await main()
