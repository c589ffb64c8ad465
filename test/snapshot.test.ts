/**
 * Snapshots are made from SessionState's prototype, not through its constructor (which runs the
 * schema's machinery even with validation off). They must be indistinguishable from constructed
 * ones.
 */
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Equal, Hash, HashMap, HashSet, Schema } from "effect"
import { type PIIType, SessionId, SessionState, ToolName } from "../src/index.js"
import * as Table from "../src/internal/core/sessionTable.js"
import * as ToolCounts from "../src/internal/core/toolCounts.js"
import { toState } from "../src/internal/shell/snapshot.js"

describe("snapshots", () => {
  it("are equal to, hash like, encode like and match like constructed states", () => {
    let tools = ToolCounts.empty
    for (const t of ["web_fetch", "exec", "web_fetch"])
      tools = ToolCounts.increment(tools, ToolName.make(t), 10)!
    const record = Table.makeRecord({
      ...Table.fresh(SessionId.make("telegram:1"), DateTime.unsafeMake(1_000)),
      lastAccessedAt: DateTime.unsafeMake(2_000),
      totalCalls: 3,
      taints: 0b101,
      tools
    })
    const fast = toState(record)
    const constructed = new SessionState({
      sessionId: SessionId.make("telegram:1"),
      createdAt: DateTime.unsafeMake(1_000),
      lastAccessedAt: DateTime.unsafeMake(2_000),
      toolCounts: HashMap.make([ToolName.make("web_fetch"), 2], [ToolName.make("exec"), 1]),
      totalCalls: 3,
      taints: HashSet.make<ReadonlyArray<PIIType>>("EMAIL", "CREDIT_CARD")
    })
    expect(Object.keys(fast)).toEqual(Object.keys(constructed))
    expect(Equal.equals(fast, constructed)).toBe(true)
    expect(Hash.hash(fast)).toBe(Hash.hash(constructed))
    expect(fast).toBeInstanceOf(SessionState)
    expect(Schema.is(SessionState)(fast)).toBe(true)
    expect(Schema.encodeSync(SessionState)(fast)).toEqual(Schema.encodeSync(SessionState)(constructed))
    expect([
      fast.toolCount(ToolName.make("web_fetch")),
      fast.hasTaint("CREDIT_CARD"),
      fast.isTainted
    ]).toEqual([2, true, true])
  })
})
