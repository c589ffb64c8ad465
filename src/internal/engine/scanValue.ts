/**
 * Reads every text in a value, for PII scanning, or says why it cannot: the value is read
 * whole or not at all, never in part.
 *
 * A value is read as `JSON.stringify` would see it, and also what it would not: strings,
 * object keys, numbers (as their decimal text), arrays, objects, the result of an object's
 * `toJSON` as well as its own properties (an array's and a map's too); Map and Set entries;
 * bytes (a Buffer, a typed array, an ArrayBuffer) as UTF-8 and, when their length is even,
 * as UTF-16; boxed strings and numbers; an Error's message and cause. Each text carries the
 * keys it sits under (`{ dob: "1990-05-17" }`), for the recognizers that need a context word.
 *
 * Reading runs the value's own code (getters, Proxy traps, `toJSON`), which may throw, or
 * return a fresh object each time: whatever throws makes the value unreadable, naming where;
 * and the walk has a budget of values, depth and bytes of text, so that no value can make it
 * run out of memory or take longer than the budget allows. The walk uses its own stack, so
 * depth cannot overflow the call stack, and reads each object once, so a cycle cannot loop.
 */
import { Buffer } from "node:buffer"
import { types } from "node:util"

/** The most a value may hold for a scan. */
export interface Budget {
  readonly maxScanNodes: number
  readonly maxScanDepth: number
  readonly maxScanBytes: number
}

/** A text found in a value, with the keys it sits under (the last two, joined by NUL). */
export interface Text {
  readonly text: string
  readonly context: string
}

/** What reading a value gave: all its texts, or why it cannot be scanned. */
export type Reading =
  | { readonly _tag: "Read"; readonly texts: ReadonlyArray<Text> }
  | { readonly _tag: "Unreadable"; readonly path: string; readonly reason: string }
  | { readonly _tag: "TooLarge"; readonly path: string; readonly limit: keyof Budget; readonly max: number }

/**
 * Every text in `holder[key]` (named `key` in paths, as in `args.user.email`), or why it
 * cannot be read within `budget`. The property itself is read inside the walk, so a getter
 * that throws on it makes the input unreadable like any other.
 */
export const read = (holder: object, key: string, budget: Budget): Reading => {
  const walk = new Walk(budget)
  const stack: Array<Node> = [
    { parent: undefined, segment: key, depth: 0, keys: ["", ""], how: PROPERTY, source: holder, key }
  ]
  while (stack.length > 0) {
    const node = stack.pop()!
    let problem: Problem | undefined
    try {
      problem = walk.visit(node, stack)
    } catch (error) {
      return { _tag: "Unreadable", path: pathOf(node), reason: describe(error) }
    }
    if (problem !== undefined) {
      return "reason" in problem
        ? { _tag: "Unreadable", path: pathOf(problem.node), reason: problem.reason }
        : { _tag: "TooLarge", path: pathOf(problem.node), limit: problem.limit, max: budget[problem.limit] }
    }
  }
  return { _tag: "Read", texts: walk.texts }
}

// How a node's value is obtained when it is visited: it is the node's source; it is the
// property `key` of the object `source`; or it is what `source.toJSON(key)` returns.
const VALUE = 0
const PROPERTY = 1
const TO_JSON = 2

/** A value to read: where it is (for messages), how deep, under which keys, how to get it. */
interface Node {
  readonly parent: Node | undefined
  readonly segment: string
  readonly depth: number
  /** The last two keys above the value, the nearest last. */
  readonly keys: readonly [string, string]
  readonly how: typeof VALUE | typeof PROPERTY | typeof TO_JSON
  readonly source: unknown
  readonly key?: string
}

/** Why the walk stops at a node: a limit of the budget, or a value that cannot be read. */
type Problem =
  | { readonly node: Node; readonly limit: keyof Budget }
  | { readonly node: Node; readonly reason: string }

const utf8 = new TextDecoder("utf-8")
const utf16le = new TextDecoder("utf-16le")
const utf16be = new TextDecoder("utf-16be")

class Walk {
  readonly texts: Array<Text> = []
  private nodes = 0
  private bytes = 0
  private readonly seen = new Set<object>()

  constructor(private readonly budget: Budget) {}

  /** Reads one node, pushing what it holds; a problem when the budget is exceeded. */
  visit(node: Node, stack: Array<Node>): Problem | undefined {
    this.nodes++
    if (this.nodes > this.budget.maxScanNodes) return { node, limit: "maxScanNodes" }
    const value = valueAt(node)
    if (typeof value === "object" && value !== null) {
      if (this.seen.has(value)) return undefined
      this.seen.add(value)
    }
    if (node.depth > this.budget.maxScanDepth) return { node, limit: "maxScanDepth" }
    switch (typeof value) {
      case "string":
        return this.add(node, value)
      case "number":
      case "bigint":
        return this.add(node, String(value))
      case "symbol":
        return this.add(node, value.description ?? "")
      case "object":
        return value === null ? undefined : this.readObject(node, value, stack)
      default:
        // undefined, booleans and functions hold no text.
        return undefined
    }
  }

  private readObject(node: Node, value: object, stack: Array<Node>): Problem | undefined {
    if (types.isArrayBufferView(value)) return this.readView(node, value)
    if (types.isAnyArrayBuffer(value)) return this.readBytes(node, new Uint8Array(value))
    if (types.isBoxedPrimitive(value)) return this.add(node, boxedText(value))
    if (types.isPromise(value) || types.isWeakMap(value) || types.isWeakSet(value) || isWeakRef(value)) {
      return { node, reason: `a ${Object.prototype.toString.call(value).slice(8, -1)} cannot be read` }
    }
    const children: Array<Node> = []
    const child = (
      segment: string,
      how: Node["how"],
      source: unknown,
      key?: string,
      keys = node.keys
    ): Node => ({
      parent: node,
      segment,
      depth: node.depth + 1,
      keys,
      how,
      source,
      ...(key === undefined ? {} : { key })
    })
    const room = () => this.budget.maxScanNodes - this.nodes - stack.length - children.length
    const isArray = Array.isArray(value)
    if (isArray) {
      const length = value.length
      if (length > room()) return { node, limit: "maxScanNodes" }
      for (let i = 0; i < length; i++) children.push(child(`[${i}]`, PROPERTY, value, String(i)))
    } else if (types.isMap(value) || types.isSet(value) || value instanceof Map || value instanceof Set) {
      const entries = types.isMap(value)
        ? Map.prototype.entries.call(value)
        : types.isSet(value)
          ? Set.prototype.values.call(value)
          : (value as Iterable<unknown>)[Symbol.iterator]()
      const isMap = types.isMap(value) || value instanceof Map
      let i = 0
      for (let step = entries.next(); step.done !== true; step = entries.next()) {
        if (room() < 2) return { node, limit: "maxScanNodes" }
        if (isMap) {
          const entry = step.value as ArrayLike<unknown>
          const [key, item] = [entry[0], entry[1]]
          const keys = typeof key === "string" ? nearest(node.keys, key) : node.keys
          children.push(
            child(`[entry ${i}].key`, VALUE, key),
            child(`[entry ${i}].value`, VALUE, item, undefined, keys)
          )
        } else {
          children.push(child(`[item ${i}]`, VALUE, step.value))
        }
        i++
      }
    }
    if (types.isNativeError(value)) {
      children.push(child(".message", PROPERTY, value, "message"))
      if ("cause" in value) children.push(child(".cause", PROPERTY, value, "cause"))
    }
    if (types.isRegExp(value)) {
      const problem = this.add(node, RegExp.prototype.toString.call(value))
      if (problem !== undefined) return problem
    }
    // Own enumerable string keys, as JSON reads an object's (and, beyond it, an array's other
    // than its items). Their number is checked before any is looked at, so that a Proxy's trap
    // is called no more often than the budget allows.
    const own = Reflect.ownKeys(value)
    if (own.length - (isArray ? children.length + 1 : 0) > room()) return { node, limit: "maxScanNodes" }
    for (const key of own) {
      if (typeof key !== "string" || (isArray && (key === "length" || isIndex(key)))) continue
      if (!Object.prototype.propertyIsEnumerable.call(value, key)) continue
      const problem = this.add(node, key)
      if (problem !== undefined) return problem
      children.push(child(segmentOf(key), PROPERTY, value, key, nearest(node.keys, key)))
    }
    const toJSON = (value as { readonly toJSON?: unknown }).toJSON
    if (typeof toJSON === "function") children.push(child(".toJSON()", TO_JSON, value, node.key ?? ""))
    // Pushed in reverse, so that they are read in order.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!)
    return undefined
  }

  private readView(node: Node, view: ArrayBufferView): Problem | undefined {
    const problem = this.readBytes(node, new Uint8Array(view.buffer, view.byteOffset, view.byteLength))
    if (problem !== undefined || types.isDataView(view)) return problem
    // A typed array of wider numbers is also what JSON would show: its numbers.
    const elements = view as unknown as ArrayLike<number | bigint> & { readonly BYTES_PER_ELEMENT: number }
    if (elements.BYTES_PER_ELEMENT === 1) return undefined
    if (elements.length > this.budget.maxScanNodes - this.nodes) return { node, limit: "maxScanNodes" }
    this.nodes += elements.length
    return this.add(node, Array.prototype.join.call(elements, ","))
  }

  private readBytes(node: Node, bytes: Uint8Array): Problem | undefined {
    this.bytes += bytes.byteLength
    if (this.bytes > this.budget.maxScanBytes) return { node, limit: "maxScanBytes" }
    this.texts.push({ text: utf8.decode(bytes), context: contextOf(node) })
    if (bytes.byteLength > 0 && bytes.byteLength % 2 === 0) {
      this.texts.push({ text: utf16le.decode(bytes), context: contextOf(node) })
      if (bytes[0] === 0xfe && bytes[1] === 0xff)
        this.texts.push({ text: utf16be.decode(bytes), context: "" })
    }
    return undefined
  }

  private add(node: Node, text: string): Problem | undefined {
    // Length first: a string too long even at one byte per character is not measured.
    if (this.bytes + text.length > this.budget.maxScanBytes) return { node, limit: "maxScanBytes" }
    this.bytes += Buffer.byteLength(text, "utf8")
    if (this.bytes > this.budget.maxScanBytes) return { node, limit: "maxScanBytes" }
    this.texts.push({ text, context: contextOf(node) })
    return undefined
  }
}

const valueAt = (node: Node): unknown => {
  switch (node.how) {
    case VALUE:
      return node.source
    case PROPERTY:
      return (node.source as Record<string, unknown>)[node.key!]
    case TO_JSON: {
      const toJSON = (node.source as { readonly toJSON: (key: string) => unknown }).toJSON
      return toJSON.call(node.source, node.key ?? "")
    }
  }
}

const isIndex = (key: string): boolean => /^(?:0|[1-9][0-9]*)$/.test(key) && Number(key) < 2 ** 32 - 1

const isWeakRef = (value: object): boolean =>
  typeof WeakRef === "function" && Object.prototype.toString.call(value) === "[object WeakRef]"

const boxedText = (value: object): string => {
  if (types.isStringObject(value)) return String.prototype.valueOf.call(value)
  if (types.isNumberObject(value)) return String(Number.prototype.valueOf.call(value))
  if (types.isBigIntObject(value)) return String(BigInt.prototype.valueOf.call(value))
  if (types.isSymbolObject(value)) return Symbol.prototype.valueOf.call(value).description ?? ""
  return ""
}

const KEY_CONTEXT = 64

/** The last two keys once `key` is added: a context word may be the parent's key. */
const nearest = (keys: readonly [string, string], key: string): readonly [string, string] => [
  keys[1],
  key.length > KEY_CONTEXT ? key.slice(-KEY_CONTEXT) : key
]

/**
 * The keys above a node as one text, its end kept: a context word counts only when it ends
 * shortly before the value, so a longer context would only cost time.
 */
const contextOf = (node: Node): string => {
  const [parent, key] = node.keys
  const context = parent === "" ? key : key === "" ? parent : `${parent}\u0000${key}`
  return context.length > KEY_CONTEXT ? context.slice(-KEY_CONTEXT) : context
}

const SHOWN_KEY = 40

const segmentOf = (key: string): string => {
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) && key.length <= SHOWN_KEY) return `.${key}`
  const shown = key.length > SHOWN_KEY ? `${key.slice(0, SHOWN_KEY)}...` : key
  return `[${JSON.stringify(shown)}]`
}

const SHOWN_SEGMENTS = 6

/** Where a node is, such as `args.user.email`; a deep one with its middle elided. */
const pathOf = (node: Node): string => {
  const segments: Array<string> = []
  for (let n: Node | undefined = node; n !== undefined; n = n.parent) segments.push(n.segment)
  segments.reverse()
  if (segments.length <= 2 * SHOWN_SEGMENTS) return segments.join("")
  const elided = segments.length - 2 * SHOWN_SEGMENTS
  return `${segments.slice(0, SHOWN_SEGMENTS).join("")}...(${elided} more)...${segments.slice(-SHOWN_SEGMENTS).join("")}`
}

/** What was thrown, briefly; reading it must not throw in turn. */
const describe = (error: unknown): string => {
  try {
    if (types.isNativeError(error)) {
      const message = String(error.message)
      return `${error.name}: ${message.length > 120 ? `${message.slice(0, 120)}...` : message}`
    }
    return `a thrown ${typeof error}`
  } catch {
    return "an exception"
  }
}
