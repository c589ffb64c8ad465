/**
 * One round of the large size, in its own process: one implementation builds its table, warms
 * up and is measured, alone in its heap. `separate.ts` starts it with a JSON spec as its only
 * argument; it prints its figures as one JSON line (ns per operation over the whole measured
 * sequence, wall clock and process CPU) and its progress on stderr.
 */
import type { RoundSpec } from "./separate.js"
import { STEADY_WORKLOADS, steadyWorkloads } from "./steady.js"
import { subject } from "./subjects.js"

const spec = JSON.parse(process.argv[2] ?? "") as RoundSpec
// One block: the whole measured sequence, so the round's figure carries all its collections.
const figures = steadyWorkloads(
  { ...spec, perBlock: Number.MAX_SAFE_INTEGER },
  [subject(spec.subject)],
  (line) => console.error(`  ${line}`)
)
const out = Object.fromEntries(
  STEADY_WORKLOADS.map((workload) => {
    const own = figures[workload][spec.subject]!
    return [workload, { wall: own.wall[0]!, cpu: own.cpu[0]! }]
  })
)
console.log(JSON.stringify(out))
