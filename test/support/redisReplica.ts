/**
 * One replica for the multi-process tests: its own layer on the shared Redis, doing `count`
 * operations on one session (one after another, or all at once for "burst"), then printing how
 * many calls it was allowed to record. Arguments: url, key prefix, mode (increment | decide |
 * burst), count, limit.
 */
import { Effect } from "effect"
import { SessionId, SessionManager, ToolName } from "../../src/index.js"
import { layerRedis } from "../../src/redis.js"

const [url = "", keyPrefix = "", mode = "increment", count = "0", limit = "0"] = process.argv.slice(2)
const id = SessionId.make("shared-session")
const tool = ToolName.make("web_fetch")

const program = Effect.gen(function* () {
  const sessions = yield* SessionManager
  let allowed = 0
  const decide = Effect.map(
    sessions.decideAndRecord(id, tool, (before) => {
      const ok = before.toolCount(tool) < Number(limit)
      return { record: ok, value: ok }
    }),
    ({ value }) => value
  )
  if (mode === "burst") {
    const results = yield* Effect.all(
      Array.from({ length: Number(count) }, () => decide),
      { concurrency: "unbounded" }
    )
    return results.filter((ok) => ok).length
  }
  for (let i = 0; i < Number(count); i++) {
    if (mode === "increment") {
      yield* sessions.increment(id, tool)
      allowed++
    } else {
      const { value } = yield* sessions.decideAndRecord(id, tool, (before) => {
        const ok = before.toolCount(tool) < Number(limit)
        return { record: ok, value: ok }
      })
      if (value) allowed++
    }
  }
  return allowed
}).pipe(Effect.provide(layerRedis({ url, keyPrefix, maxSessions: 10 })))

Effect.runPromise(program).then(
  (allowed) => process.stdout.write(`${JSON.stringify({ allowed })}\n`),
  (error) => {
    process.stderr.write(`${String(error)}\n`)
    process.exitCode = 1
  }
)
