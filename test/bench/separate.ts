/**
 * The large size, where one heap holding every implementation's table would make each pay for
 * the others' collections: each implementation in its own child process, one after another,
 * round after round (A B C, B C A, ...), so a slow minute on the machine spreads over every
 * implementation instead of landing on one. A round's figure is the child's whole measured
 * sequence; the ratio of two implementations is taken round by round.
 */
import { fileURLToPath } from "node:url"
import { runCommand } from "../support/runNode.js"
import type { Figures } from "./measure.js"
import { STEADY_WORKLOADS, type SteadyFigures, type SteadySpec, type SteadyWorkload } from "./steady.js"
import type { Subject, SubjectKey } from "./subjects.js"

/** What a child process is asked to run. */
export interface RoundSpec extends SteadySpec {
  readonly subject: SubjectKey
}

/** Runs `rounds` rounds of every subject at `spec.sessions`, each subject in a fresh process. */
export const steadySeparate = async (
  spec: SteadySpec,
  subjects: ReadonlyArray<Subject>,
  rounds: number,
  log: (line: string) => void
): Promise<SteadyFigures> => {
  const collected = new Map<SubjectKey, Record<SteadyWorkload, { wall: Array<number>; cpu: Array<number> }>>(
    subjects.map((s) => [
      s.key,
      { W1: { wall: [], cpu: [] }, "W2 getTaints": { wall: [], cpu: [] }, "W2 get": { wall: [], cpu: [] } }
    ])
  )
  for (let round = 0; round < rounds; round++) {
    for (let j = 0; j < subjects.length; j++) {
      const subject = subjects[(round + j) % subjects.length]!
      const figures = await runRound({ ...spec, subject: subject.key })
      const own = collected.get(subject.key)!
      for (const workload of STEADY_WORKLOADS) {
        own[workload].wall.push(figures[workload].wall)
        own[workload].cpu.push(figures[workload].cpu)
      }
      log(
        `round ${round + 1}/${rounds} ${subject.key} N=${spec.sessions}: ${STEADY_WORKLOADS.map(
          (w) => `${w} ${figures[w].wall.toFixed(0)} ns/op wall, ${figures[w].cpu.toFixed(0)} CPU`
        ).join("; ")}`
      )
    }
  }
  const out: SteadyFigures = { W1: {}, "W2 getTaints": {}, "W2 get": {} }
  for (const [key, figures] of collected) {
    for (const workload of STEADY_WORKLOADS) out[workload][key] = figures[workload] satisfies Figures
  }
  return out
}

const roundFile = fileURLToPath(new URL("./round.ts", import.meta.url))

/**
 * This process's Node flags, so that a profiling flag given to the harness (`--cpu-prof`,
 * `--trace-gc`) reaches the processes that measure the large size, plus what a round needs.
 */
const childFlags = (): Array<string> => {
  const flags = [...process.execArgv]
  if (!flags.includes("--expose-gc")) flags.push("--expose-gc")
  if (
    !flags.some((flag, i) => flag.startsWith("--import") && (flag.includes("tsx") || flags[i + 1] === "tsx"))
  ) {
    flags.push("--import", "tsx")
  }
  return flags
}

/** One child process; asynchronous, so a test running the harness keeps its event loop free. */
const runRound = async (
  spec: RoundSpec
): Promise<Record<SteadyWorkload, { readonly wall: number; readonly cpu: number }>> => {
  const run = await runCommand(
    process.execPath,
    [...childFlags(), roundFile, JSON.stringify(spec)],
    // A million sessions on a busy machine take minutes to build; this only catches a hang.
    { timeout: 1_800_000 }
  )
  const lines = run.stdout.trim().split("\n")
  const last = lines.pop()
  // Anything before the figures comes from a flag such as --trace-gc, which V8 prints on stdout.
  if (lines.length > 0) process.stderr.write(`${lines.join("\n")}\n`)
  if (run.status !== 0 || last === undefined || last === "") {
    throw new Error(`round of ${spec.subject} at N=${spec.sessions} failed (${run.status}):\n${run.stderr}`)
  }
  return JSON.parse(last)
}
