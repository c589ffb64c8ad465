/**
 * A persistent ordered index from touch numbers to values (session ids), the access order of
 * the session table.
 *
 * Touch numbers only grow, so nearly every insertion lands at the right end and lookups of the
 * least recent entry take the leftmost path. A bitmap-compressed radix trie over the number's
 * base-32 digits serves that in O(log32 key) per operation with path copying, a few times
 * cheaper here than a balanced tree: see the README's Performance section.
 */

import { inserted, removed, replaced } from "./arrays.js"

const BITS = 5
const WIDTH = 1 << BITS
const MASK = WIDTH - 1

interface Branch<V> {
  /** Bit i is set when digit i has a child. */
  readonly bitmap: number
  /** The children of the set bits, in digit order: branches, or values at the bottom level. */
  readonly children: ReadonlyArray<Branch<V> | V>
}

/** An immutable index; `shift` is the bit position of the root's digit. */
export interface AccessIndex<V> {
  readonly root: Branch<V> | undefined
  readonly shift: number
  readonly size: number
}

const emptyIndex: AccessIndex<never> = { root: undefined, shift: 0, size: 0 }

/** The empty index. */
export const empty = <V>(): AccessIndex<V> => emptyIndex

// Keys can exceed 2^32 over a long life, so a digit comes from a division by a power of two,
// which is exact, and `& MASK` truncates the quotient. The powers are computed once.
const SCALE: ReadonlyArray<number> = Array.from({ length: 11 }, (_, level) => 2 ** (level * BITS))

const digit = (key: number, shift: number): number => (key / SCALE[shift / BITS]!) & MASK

/** The largest key a root at `shift` can hold, plus one. */
const capacity = (shift: number): number => SCALE[shift / BITS + 1] ?? Number.POSITIVE_INFINITY

const popcount = (x: number): number => {
  let n = x - ((x >>> 1) & 0x55555555)
  n = (n & 0x33333333) + ((n >>> 2) & 0x33333333)
  n = (n + (n >>> 4)) & 0x0f0f0f0f
  return Math.imul(n, 0x01010101) >>> 24
}

const slot = (bitmap: number, bit: number): number => popcount(bitmap & (bit - 1))

const withChild = <V>(branch: Branch<V>, bit: number, child: Branch<V> | V): Branch<V> => {
  const at = slot(branch.bitmap, bit)
  return branch.bitmap & bit
    ? { bitmap: branch.bitmap, children: replaced(branch.children, at, child) }
    : { bitmap: branch.bitmap | bit, children: inserted(branch.children, at, child) }
}

const withoutChild = <V>(branch: Branch<V>, bit: number): Branch<V> | undefined => {
  const bitmap = branch.bitmap & ~bit
  return bitmap === 0 ? undefined : { bitmap, children: removed(branch.children, slot(branch.bitmap, bit)) }
}

const singleton = <V>(key: number, value: V, shift: number): Branch<V> => {
  let node: Branch<V> = { bitmap: 1 << digit(key, 0), children: [value] }
  for (let s = BITS; s <= shift; s += BITS) {
    node = { bitmap: 1 << digit(key, s), children: [node] }
  }
  return node
}

const insertAt = <V>(branch: Branch<V>, shift: number, key: number, value: V): Branch<V> => {
  const bit = 1 << digit(key, shift)
  if (shift === 0) return withChild(branch, bit, value)
  if (branch.bitmap & bit) {
    const child = branch.children[slot(branch.bitmap, bit)] as Branch<V>
    return withChild(branch, bit, insertAt(child, shift - BITS, key, value))
  }
  return withChild(branch, bit, singleton(key, value, shift - BITS))
}

/**
 * The index with `value` at `key`, replacing what was there. The caller never inserts a key
 * twice (each touch gets a new number), so `size` counts insertions minus removals.
 */
export const insert = <V>(index: AccessIndex<V>, key: number, value: V): AccessIndex<V> => {
  if (index.root === undefined) {
    let shift = 0
    while (key >= capacity(shift)) shift += BITS
    return { root: singleton(key, value, shift), shift, size: 1 }
  }
  let root = index.root
  let shift = index.shift
  // Keys only grow: when one no longer fits, the old root becomes digit 0 of a taller one.
  while (key >= capacity(shift)) {
    shift += BITS
    root = { bitmap: 1, children: [root] }
  }
  return { root: insertAt(root, shift, key, value), shift, size: index.size + 1 }
}

const removeAt = <V>(branch: Branch<V>, shift: number, key: number): Branch<V> | undefined | null => {
  const bit = 1 << digit(key, shift)
  if ((branch.bitmap & bit) === 0) return null
  if (shift === 0) return withoutChild(branch, bit)
  const child = branch.children[slot(branch.bitmap, bit)] as Branch<V>
  const next = removeAt(child, shift - BITS, key)
  if (next === null) return null
  return next === undefined ? withoutChild(branch, bit) : withChild(branch, bit, next)
}

/** The index without `key`; the same index when `key` is absent. */
export const remove = <V>(index: AccessIndex<V>, key: number): AccessIndex<V> => {
  if (index.root === undefined || key >= capacity(index.shift)) return index
  // `null` below means "absent, nothing changed"; `undefined` means "now empty".
  const root = removeAt(index.root, index.shift, key)
  if (root === null) return index
  if (root === undefined) return emptyIndex
  return { root, shift: index.shift, size: index.size - 1 }
}

/** The value with the least key, or `undefined` when the index is empty. */
export const first = <V>(index: AccessIndex<V>): V | undefined => {
  let node = index.root
  if (node === undefined) return undefined
  for (let shift = index.shift; shift > 0; shift -= BITS) node = node.children[0] as Branch<V>
  return node.children[0] as V
}

/** Every value in key order (for tests and diagnostics; O(n)). */
export const values = <V>(index: AccessIndex<V>): Array<V> => {
  const out: Array<V> = []
  const walk = (node: Branch<V>, shift: number): void => {
    for (const child of node.children) {
      if (shift === 0) out.push(child as V)
      else walk(child as Branch<V>, shift - BITS)
    }
  }
  if (index.root !== undefined) walk(index.root, index.shift)
  return out
}
