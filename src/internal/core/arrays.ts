/**
 * Copies of small immutable arrays with one element replaced, inserted or removed. They are
 * written out because they run on every touch: `splice` allocates an array of the removed
 * elements even when it removes none, and spreading or pushing leaves spare capacity that a
 * table of a million sessions would keep.
 */

export const replaced = <T>(items: ReadonlyArray<T>, at: number, item: T): Array<T> => {
  const out = items.slice()
  out[at] = item
  return out
}

export const inserted = <T>(items: ReadonlyArray<T>, at: number, item: T): Array<T> => {
  const out = new Array<T>(items.length + 1)
  for (let i = 0; i < at; i++) out[i] = items[i]!
  out[at] = item
  for (let i = at; i < items.length; i++) out[i + 1] = items[i]!
  return out
}

export const removed = <T>(items: ReadonlyArray<T>, at: number): Array<T> => {
  const out = new Array<T>(items.length - 1)
  for (let i = 0; i < at; i++) out[i] = items[i]!
  for (let i = at + 1; i < items.length; i++) out[i - 1] = items[i]!
  return out
}

/** The items followed by two more, in an array of exactly that length. */
export const appended2 = <T>(items: ReadonlyArray<T>, a: T, b: T): Array<T> => {
  const out = new Array<T>(items.length + 2)
  for (let i = 0; i < items.length; i++) out[i] = items[i]!
  out[items.length] = a
  out[items.length + 1] = b
  return out
}
