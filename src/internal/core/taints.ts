import { HashSet } from "effect"
import { allPIITypes, type PIIType } from "../../PIIType.js"

/** The taints of a session as a bit set: bit i stands for `allPIITypes[i]`. */
export type TaintBits = number

const bitByType = new Map<PIIType, number>(allPIITypes.map((type, i) => [type, 1 << i]))

/** The bit that stands for one PII type. */
export const bitOf = (pii: PIIType): TaintBits => bitByType.get(pii)!

/** Whether the bit set holds `pii`. */
export const has = (bits: TaintBits, pii: PIIType): boolean => (bits & bitOf(pii)) !== 0

// There are only 2^9 sets, and HashSets are immutable, so each one is built once and shared
// by every snapshot that carries it.
const setsByBits: Array<HashSet.HashSet<PIIType> | undefined> = []

/** The taints as the immutable set a snapshot carries. */
export const toHashSet = (bits: TaintBits): HashSet.HashSet<PIIType> => {
  let set = setsByBits[bits]
  if (set === undefined) {
    set = HashSet.fromIterable(toArray(bits))
    setsByBits[bits] = set
  }
  return set
}

/** The PII types of a bit set, in declaration order. */
export const toArray = (bits: TaintBits): Array<PIIType> =>
  allPIITypes.filter((_, i) => (bits & (1 << i)) !== 0)

/** The bit set of an iterable of PII types. */
export const fromIterable = (types: Iterable<PIIType>): TaintBits => {
  let bits = 0
  for (const type of types) bits |= bitOf(type)
  return bits
}
