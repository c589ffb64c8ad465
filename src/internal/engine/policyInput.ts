/**
 * What a policy is read from, before its schema sees it: YAML text, checked for what YAML
 * would resolve silently (duplicate keys, merge keys, keys that are not strings, unknown tags),
 * and a caller's value, copied into plain data so that no key is lost or inherited. Problems
 * are reported, never thrown.
 */
import { Either } from "effect"
import { isScalar, LineCounter, parseDocument, visit, type YAMLError } from "yaml"

/** A problem at a path of the input, before it is told in a message. */
export interface Problem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly problem: string
}

/** The longest excerpt of an input value or a YAML line that a message quotes. */
export const EXCERPT = 60

/** Every YAML problem with its line, or the document's value as plain JavaScript data. */
export const readYaml = (text: unknown): Either.Either<unknown, Array<string>> => {
  if (typeof text !== "string") return Either.left([`policy: expected YAML text, got ${show(text)}`])
  const lines = new LineCounter()
  const problems: Array<string> = []
  const at = (offset: number, reason: string) => problems.push(yamlProblem(text, lines, offset, reason))
  try {
    // uniqueKeys: a second `then:` or `session:` would otherwise silently replace the first.
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
    for (const error of [...doc.errors, ...doc.warnings]) at(error.pos[0], yamlReason(error))
    if (problems.length > 0) return Either.left(problems)
    visit(doc, {
      Pair: (_, pair) => {
        const key = pair.key
        if (isScalar(key) && typeof key.value === "string") return
        const offset = rangeStart(key) ?? rangeStart(pair.value) ?? 0
        at(
          offset,
          isScalar(key) && typeof key.value === "symbol"
            ? "merge keys (<<) are not supported: write each key out"
            : `a key must be a string, got ${isScalar(key) ? show(key.value) : "a list or mapping"}`
        )
      }
    })
    if (problems.length > 0) return Either.left(problems)
    if (doc.contents === null) {
      return Either.left(["policy: the YAML document is empty; a policy needs at least shield_name"])
    }
    return Either.right(doc.toJS({ maxAliasCount: 100 }))
  } catch (error) {
    return Either.left([`policy: not valid YAML: ${reasonOf(error)}`])
  }
}

const yamlReason = (error: YAMLError): string =>
  error.code === "DUPLICATE_KEY"
    ? "duplicate key (the second would silently replace the first)"
    : error.message

const rangeStart = (node: unknown): number | undefined => {
  if (typeof node !== "object" || node === null || !("range" in node)) return undefined
  const range = (node as { readonly range?: unknown }).range
  return Array.isArray(range) && typeof range[0] === "number" ? range[0] : undefined
}

/**
 * `policy: not valid YAML at line 5, column 5: <reason>: "<the line>"`, the line cut short. An
 * error on a blank line (the end of the text, often) quotes the last line before it with text.
 */
const yamlProblem = (text: string, lines: LineCounter, offset: number, reason: string): string => {
  const { line, col } = lines.linePos(offset)
  const lineText = (n: number) =>
    text.slice(lines.lineStarts[n - 1] ?? 0, lines.lineStarts[n] ?? text.length).replace(/\r?\n$/, "")
  let quoted = line
  while (quoted > 1 && lineText(quoted).trim() === "") quoted--
  const whole = lineText(quoted)
  const around = quoted === line ? col - 1 : whole.length
  const from =
    whole.length <= EXCERPT ? 0 : Math.max(0, Math.min(around - EXCERPT / 2, whole.length - EXCERPT))
  const excerpt =
    (from > 0 ? "…" : "") + whole.slice(from, from + EXCERPT) + (from + EXCERPT < whole.length ? "…" : "")
  const where = `line ${line}, column ${col}${quoted === line ? "" : `, after line ${quoted}`}`
  return `policy: not valid YAML at ${where}: ${shorten(reason, 2 * EXCERPT)}: ${JSON.stringify(excerpt)}`
}

/** How deep a policy can nest: far beyond any valid one, short of exhausting the stack. */
const MAX_DEPTH = 64

/**
 * How many values a policy can hold, counting a value shared by reference once per place it
 * appears: a caller's object with shared references can otherwise stand for a tree too large
 * to walk (60 levels of two references to the same object are 2^60 places).
 */
const MAX_VALUES = 1_000_000

/**
 * Copies the input into arrays and null-prototype objects, from own data properties only, so
 * that every key the input has is seen by the decoder (`__proto__` and `constructor` are keys
 * like any other) and none is inherited. What is not plain data is a problem.
 */
export const plainTree = (value: unknown): { readonly tree: unknown; readonly problems: Array<Problem> } => {
  const problems: Array<Problem> = []
  const ancestors = new Set<object>()
  let values = 0
  const copy = (node: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
    if (++values > MAX_VALUES) {
      if (values === MAX_VALUES + 1) {
        problems.push({
          path: [],
          problem: `the policy holds more than ${MAX_VALUES.toLocaleString("en")} values`
        })
      }
      return undefined
    }
    if (typeof node === "function") {
      problems.push({ path, problem: "expected plain data, got a function" })
      return undefined
    }
    if (typeof node !== "object" || node === null) return node
    const problem = ancestors.has(node)
      ? "it contains itself"
      : path.length >= MAX_DEPTH
        ? `nested more than ${MAX_DEPTH} levels deep`
        : Array.isArray(node) || isPlainObject(node)
          ? undefined
          : `expected plain data (mappings, lists, strings, numbers, booleans), got ${kindOf(node)}`
    if (problem !== undefined) {
      problems.push({ path, problem })
      return undefined
    }
    ancestors.add(node)
    const out = Array.isArray(node) ? copyList(node, path) : copyMapping(node, path)
    ancestors.delete(node)
    return out
  }
  const ownValue = (node: object, key: string, path: ReadonlyArray<PropertyKey>): unknown => {
    const descriptor = Reflect.getOwnPropertyDescriptor(node, key)
    if (descriptor !== undefined && "value" in descriptor) return copy(descriptor.value, path)
    problems.push({ path, problem: "a getter or setter, not plain data" })
    return undefined
  }
  const copyMapping = (node: object, path: ReadonlyArray<PropertyKey>): unknown => {
    // On a null-prototype object, assigning `__proto__` makes an own key, not a prototype.
    const out: Record<string, unknown> = Object.create(null)
    for (const key of Reflect.ownKeys(node)) {
      if (typeof key === "symbol")
        problems.push({ path, problem: `a symbol key ${String(key)}, not plain data` })
      else out[key] = ownValue(node, key, [...path, key])
    }
    return out
  }
  const copyList = (node: ReadonlyArray<unknown>, path: ReadonlyArray<PropertyKey>): unknown => {
    let items = 0
    for (const key of Reflect.ownKeys(node)) {
      if (typeof key === "string" && /^(?:0|[1-9]\d*)$/.test(key)) items++
      else if (key !== "length") problems.push({ path, problem: `a list with a key ${show(String(key))}` })
    }
    if (items !== node.length) {
      problems.push({ path, problem: "a list with holes" })
      return undefined
    }
    return Array.from({ length: node.length }, (_, index) => ownValue(node, String(index), [...path, index]))
  }
  try {
    return { tree: copy(value, []), problems }
  } catch (error) {
    // A proxy's trap can throw; the input is then unreadable, which is a refusal, not a crash.
    return {
      tree: undefined,
      problems: [{ path: [], problem: `the input cannot be read: ${show(reasonOf(error))}` }]
    }
  }
}

const isPlainObject = (node: object): boolean => {
  const proto = Object.getPrototypeOf(node)
  return proto === Object.prototype || proto === null
}

const kindOf = (node: object): string => {
  const tag = Object.prototype.toString.call(node).slice(8, -1)
  return tag === "Object" ? "an object with a prototype of its own" : `a ${tag}`
}

/** Quotes a value for a message: JSON where it can, and never long. */
export const show = (value: unknown): string => {
  let text: string
  try {
    text =
      typeof value === "function"
        ? "a function"
        : typeof value === "bigint"
          ? `${value}n`
          : (JSON.stringify(value) ?? String(value))
  } catch {
    text = Object.prototype.toString.call(value)
  }
  return shorten(text)
}

export const shorten = (text: string, max = EXCERPT): string =>
  text.length <= max ? text : `${text.slice(0, max - 1)}…`

/** The first line of an error's message. */
export const reasonOf = (error: unknown): string =>
  error instanceof Error ? (error.message.split("\n")[0] ?? error.name) : show(error)
