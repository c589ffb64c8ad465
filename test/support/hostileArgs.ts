/**
 * Feeds every hostile shape of arguments to `check` and of results to `postCheck`, in its own
 * process, and prints one line per input with what each gave. The test runs it with a generous
 * limit, so a shape that hangs or exhausts memory is killed and named instead of stalling the
 * test run; a defect (a crash) is printed as such.
 */
import { Buffer } from "node:buffer"
import { Cause, Effect, Exit, Layer } from "effect"
import { PIIDetector, SessionManager, ShieldEngine, ShieldPolicy } from "../../src/index.js"

const policyYaml = `
shield_name: hostile
default_verdict: allow
taint_chain:
  enabled: true
  outgoing_tools: [send_message]
`

const fresh = (): unknown => ({ toJSON: () => fresh() })
const freshGetter = (): object => ({
  get next() {
    return freshGetter()
  }
})
const freshProxy = (): object =>
  new Proxy(
    {},
    {
      ownKeys: () => ["next"],
      getOwnPropertyDescriptor: () => ({ enumerable: true, configurable: true }),
      get: () => freshProxy()
    }
  )
const throwing = (trap: keyof ProxyHandler<object>) =>
  new Proxy(
    {},
    {
      [trap]: () => {
        throw new Error(`${trap} trap`)
      }
    }
  )

/** The hostile inputs, each built when its turn comes so that only one is in memory at a time. */
export const hostile: ReadonlyArray<readonly [string, () => unknown]> = [
  [
    "a throwing getter",
    () => ({
      user: {
        get email() {
          throw new Error("no")
        }
      }
    })
  ],
  ["a Proxy whose get trap throws", () => ({ user: throwing("get") })],
  ["a Proxy whose ownKeys trap throws", () => ({ user: throwing("ownKeys") })],
  ["a Proxy whose getPrototypeOf trap throws", () => ({ user: throwing("getPrototypeOf") })],
  [
    "a revoked Proxy",
    () => {
      const { proxy, revoke } = Proxy.revocable({}, {})
      revoke()
      return { user: proxy }
    }
  ],
  [
    "a toJSON that throws",
    () => ({
      toJSON: () => {
        throw new Error("no")
      }
    })
  ],
  [
    "a getter that overflows the stack",
    () => {
      const deep = (): number => deep() + 1
      return {
        get x() {
          return deep()
        }
      }
    }
  ],
  ["a Promise", () => ({ later: Promise.resolve("jane@example.org") })],
  ["a fresh object from toJSON each time", () => ({ x: fresh() })],
  ["a fresh object from a getter each time", freshGetter],
  ["a Proxy with a fresh object on every get", freshProxy],
  [
    "an object with a million keys",
    () => {
      const o: Record<string, number> = {}
      for (let i = 0; i < 1_000_000; i++) o[`k${i}`] = i
      return o
    }
  ],
  ["250,000 one-character strings", () => Array.from({ length: 250_000 }, () => "a")],
  ["an array claiming 2^32 - 1 items", () => ({ items: new Array(2 ** 32 - 1) })],
  ["a Map of a million entries", () => new Map(Array.from({ length: 1_000_000 }, (_, i) => [i, i]))],
  [
    "nesting 100,000 deep",
    () => {
      let value: unknown = "jane@example.org"
      for (let i = 0; i < 100_000; i++) value = { v: value }
      return value
    }
  ],
  ["a 9 MiB string", () => "a".repeat(9 * 1024 * 1024)],
  ["a million numbers in a Float64Array", () => new Float64Array(1_000_000)],
  [
    "a cycle holding an address",
    () => {
      const node: Record<string, unknown> = { mail: "jane@example.org" }
      node.self = node
      node.list = [node, [node]]
      return node
    }
  ],
  ["5 MB of text with an address at its end", () => `${"lorem ipsum ".repeat(420_000)}jane@example.org`],
  [
    "4 MiB of bytes with a card number at their end",
    () => Buffer.concat([Buffer.alloc(4 * 1024 * 1024, 0x61), Buffer.from(" 4111 1111 1111 1111")])
  ],
  ["100,000 strings within the budget", () => Array.from({ length: 99_999 }, (_, i) => `w${i}`)]
]

const show = <A>(
  exit: Exit.Exit<A, { readonly _tag: string; readonly field?: string }>,
  ok: (a: A) => string
) =>
  Exit.match(exit, {
    onSuccess: ok,
    onFailure: (cause) =>
      Cause.isFailType(cause)
        ? `fail ${cause.error._tag} ${cause.error.field ?? ""}`.trim()
        : `DEFECT ${Cause.pretty(cause).split("\n")[0]}`
  })

const program = Effect.gen(function* () {
  const policy = yield* ShieldPolicy.fromYaml(policyYaml)
  const engine = yield* Effect.provide(
    ShieldEngine,
    ShieldEngine.layer(policy).pipe(
      Layer.provide(SessionManager.layer({ maxSessions: 1000 })),
      Layer.provide(PIIDetector.Default)
    )
  )
  process.stdout.write(`inputs ${hostile.length}\n`)
  for (const [i, [name, make]] of hostile.entries()) {
    process.stdout.write(`start ${name}\n`)
    const checked = yield* Effect.exit(
      engine.check({ sessionId: `c${i}`, tool: "send_message", args: make() })
    )
    const post = yield* Effect.exit(
      engine.postCheck({ sessionId: `p${i}`, tool: "read_file", result: make() })
    )
    const verdict = show(checked, (v) => `${v.decision} ${v.ruleId ?? "-"} ${v.severity}`)
    const found = show(post, (pii) => `ok [${pii.join(",")}]`)
    process.stdout.write(`done ${name} | ${verdict} | ${found}\n`)
  }
})

Effect.runPromise(program).catch((error) => {
  process.stdout.write(`FAILED ${String(error)}\n`)
  process.exitCode = 1
})
