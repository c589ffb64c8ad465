import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as AccessIndex from "../src/internal/core/accessIndex.js"

type Step = { readonly insert: boolean; readonly key: number }

// Keys near digit boundaries and far beyond 2^32, where digits come from division.
const key = fc.oneof(
  fc.integer({ min: 0, max: 70 }),
  fc.integer({ min: 0, max: 40_000 }),
  fc.constantFrom(31, 32, 1023, 1024, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, 2 ** 53 - 1)
)

describe("AccessIndex", () => {
  it.prop(
    "holds exactly the inserted keys, in key order, with the least first",
    [fc.array(fc.record({ insert: fc.boolean(), key }), { maxLength: 300 })],
    ([steps]: [ReadonlyArray<Step>]) => {
      let index = AccessIndex.empty<string>()
      const model = new Map<number, string>()
      for (const { insert, key } of steps) {
        const before = index
        const beforeValues = AccessIndex.values(before)
        if (insert) {
          if (model.has(key)) continue
          index = AccessIndex.insert(index, key, `v${key}`)
          model.set(key, `v${key}`)
        } else {
          index = AccessIndex.remove(index, key)
          model.delete(key)
        }
        // Persistence: the previous version is untouched.
        expect(AccessIndex.values(before)).toEqual(beforeValues)
        const sorted = [...model.keys()].sort((a, b) => a - b)
        expect(AccessIndex.values(index)).toEqual(sorted.map((k) => `v${k}`))
        expect(index.size).toBe(model.size)
        expect(AccessIndex.first(index)).toBe(sorted.length === 0 ? undefined : `v${sorted[0]}`)
      }
    },
    { fastCheck: { numRuns: 300 } }
  )

  it("removing an absent key returns the same index", () => {
    const index = AccessIndex.insert(AccessIndex.insert(AccessIndex.empty<string>(), 5, "a"), 70, "b")
    expect(AccessIndex.remove(index, 6)).toBe(index)
    expect(AccessIndex.remove(index, 2 ** 40)).toBe(index)
    expect(AccessIndex.remove(AccessIndex.remove(index, 5), 70).size).toBe(0)
  })
})
