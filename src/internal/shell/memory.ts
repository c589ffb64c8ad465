/**
 * The in-memory store: the table of the functional core in a `Ref`. Each operation reads the
 * clock and applies one transition of the core in one `Ref.modify`, and reports the events of
 * the transition inside that same step, so no other fiber's operation can come between them
 * and events keep the order of the operations.
 */
import { Effect, Ref } from "effect"
import * as Table from "../core/sessionTable.js"
import { millis, type Report, type SessionStore } from "./service.js"

/** A store over an empty table with this configuration. */
export const make = (config: Table.TableConfig, report: Report): Effect.Effect<SessionStore> =>
  Effect.map(
    Ref.make(Table.empty(config)),
    (ref): SessionStore => ({
      apply: (operation, finish) =>
        Effect.clockWith((clock) =>
          Ref.modify(ref, (table) => {
            const { result, table: next, events } = Table.apply(table, millis(clock), operation)
            if (events.length > 0) report(events, next.now)
            return [finish(result), next]
          })
        )
    })
  )
