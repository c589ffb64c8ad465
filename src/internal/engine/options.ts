/**
 * The options of `ShieldEngine.layer`, decoded once when the layer is built: the budget of the
 * walk that reads a call's arguments and a tool's result.
 */
import { Either } from "effect"
import type { Budget } from "./scanValue.js"

/** The options of the engine's layer; each is optional. */
export interface EngineOptions {
  /** The most values (strings, numbers, objects, array items...) read in one input (default 100,000). */
  readonly maxScanNodes?: number | undefined
  /** The deepest nesting read, the input itself being level 0 (default 64). */
  readonly maxScanDepth?: number | undefined
  /** The most bytes of text read in one input, as UTF-8, bytes counted once (default 8 MiB). */
  readonly maxScanBytes?: number | undefined
}

/** The defaults of the budget. */
export const defaults: Budget = {
  maxScanNodes: 100_000,
  maxScanDepth: 64,
  maxScanBytes: 8 * 1024 * 1024
}

/** The budget the options ask for, or a message naming the first invalid option. */
export const decode = (options: unknown): Either.Either<Budget, string> => {
  if (options === undefined) return Either.right(defaults)
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    return Either.left(`ShieldEngine options must be an object, got ${show(options)}`)
  }
  const given = options as Record<string, unknown>
  const problems: Array<string> = []
  const take = (name: keyof Budget): number => {
    const value = given[name]
    if (value === undefined) return defaults[name]
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 1) return value
    problems.push(`ShieldEngine option "${name}" must be a positive integer, got ${show(value)}`)
    return defaults[name]
  }
  const budget: Budget = {
    maxScanNodes: take("maxScanNodes"),
    maxScanDepth: take("maxScanDepth"),
    maxScanBytes: take("maxScanBytes")
  }
  return problems.length > 0 ? Either.left(problems[0]!) : Either.right(budget)
}

const show = (value: unknown): string => {
  if (typeof value === "bigint") return `${value}n`
  if (typeof value === "number") return String(value)
  try {
    return String(JSON.stringify(value))
  } catch {
    return typeof value
  }
}
