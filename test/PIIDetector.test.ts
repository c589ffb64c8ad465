import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { PIIDetector, type PIIType } from "../src/index.js"
import { runTs } from "./support/runNode.js"

const scan = (text: string) =>
  Effect.map(PIIDetector, (detector) => detector.scan(text)).pipe(Effect.provide(PIIDetector.Default))

const found = (text: string) =>
  Effect.map(scan(text), (matches) => matches.map((m) => [m.type, text.slice(m.start, m.end)] as const))

const cases: ReadonlyArray<readonly [PIIType, ReadonlyArray<string>, ReadonlyArray<string>]> = [
  [
    "EMAIL",
    ["jane.roe@example.org", "a.b+tag@mail.example.co.uk", "x_y@sub-domain.example.com"],
    ["jane.roe@", "@example.org", "not an @ email", "a@b", "user@localhost"]
  ],
  [
    "CREDIT_CARD",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "5500000000000004", "378282246310005"],
    // Luhn fails, too short, too long.
    ["4111 1111 1111 1112", "4111 1111 1111", "41111111111111111111"]
  ],
  [
    "SSN",
    ["123-45-6789", "078-05-1121"],
    ["000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000"]
  ],
  [
    "IBAN",
    [
      "DE89 3704 0044 0532 0130 00",
      "DE89370400440532013000",
      "GB82 WEST 1234 5698 7654 32",
      "GB82WEST12345698765432"
    ],
    // Wrong check digits.
    ["DE89 3704 0044 0532 0130 01", "GB00WEST12345698765432"]
  ],
  [
    "IP_ADDRESS",
    ["192.168.1.20", "8.8.8.8", "2001:db8:85a3::8a2e:370:7334"],
    ["999.1.1.1", "1.2.3", "std::vector"]
  ],
  [
    "PHONE",
    ["+1 415 555 2671", "+14155552671", "+44 20 7946 0958", "(415) 555-2671", "415-555-2671", "415.555.2671"],
    ["2024-01-15", "12:30:45", "415-555-267", "v1.2.3"]
  ]
]

describe("PIIDetector", () => {
  for (const [type, positives, negatives] of cases) {
    it.effect(`finds ${type}`, () =>
      Effect.gen(function* () {
        for (const value of positives) {
          const text = `before ${value} after`
          expect(yield* found(text), value).toContainEqual([type, value])
        }
      })
    )
    it.effect(`does not take look-alikes for ${type}`, () =>
      Effect.gen(function* () {
        for (const value of negatives) {
          const matches = yield* found(`before ${value} after`)
          expect(
            matches.filter(([t]) => t === type),
            value
          ).toEqual([])
        }
      })
    )
  }

  it.effect("finds a card number among other digits: an expiry date, a code, a quantity", () =>
    Effect.gen(function* () {
      for (const [text, card] of [
        ["Card: 4111 1111 1111 1111 12/27 CVV 123", "4111 1111 1111 1111"],
        ["4111111111111111 2 items", "4111111111111111"],
        ["pay with 5500-0000-0000-0004-123 now", "5500-0000-0000-0004"],
        ["ref 12 4111 1111 1111 1111", "4111 1111 1111 1111"],
        ["amex 3782 822463 10005 exp 0927", "3782 822463 10005"]
      ] as const) {
        expect(yield* found(text), text).toContainEqual(["CREDIT_CARD", card])
      }
    })
  )

  it.effect("finds an IBAN followed by more groups of characters", () =>
    Effect.gen(function* () {
      const text = "IBAN DE89 3704 0044 0532 0130 00 1234 ref"
      expect(yield* found(text)).toContainEqual(["IBAN", "DE89 3704 0044 0532 0130 00"])
      expect(yield* found("GB82WEST12345698765432 ABCD")).toContainEqual(["IBAN", "GB82WEST12345698765432"])
    })
  )

  it.effect("reports spans in order of position", () =>
    Effect.gen(function* () {
      const text = "call +1 415 555 2671, mail jane@example.org, card 4111111111111111"
      const matches = yield* scan(text)
      expect(matches.map((m) => m.type)).toEqual(["PHONE", "EMAIL", "CREDIT_CARD"])
      expect(matches.every((m, i) => i === 0 || matches[i - 1]!.start <= m.start)).toBe(true)
      expect(text.slice(matches[1]!.start, matches[1]!.end)).toBe("jane@example.org")
    })
  )

  it.effect("reads the whole text: personal data after a megabyte is found", () =>
    Effect.gen(function* () {
      const text = `${"lorem ipsum ".repeat(90_000)} ssn 123-45-6789`
      expect(text.length).toBeGreaterThan(1_000_000)
      expect((yield* found(text)).map(([t]) => t)).toEqual(["SSN"])
    })
  )

  // A megabyte of each adversarial input (see support/adversarialScan.ts). The patterns are
  // bounded by design, so each scan completes. The scans run in a child process so that a
  // regression that stalls is killed and named after a generous limit instead of hanging the
  // run; nothing here measures how fast they are.
  it("scans a megabyte of adversarial input of every kind without stalling", async () => {
    const script = fileURLToPath(new URL("./support/adversarialScan.ts", import.meta.url))
    const run = await runTs(script, { timeout: 120_000 })
    const lines = run.stdout.trim().split("\n")
    const started = lines.filter((l) => l.startsWith("start ")).length
    const done = lines.filter((l) => l.startsWith("done "))
    if (run.status !== 0) throw new Error(`the scan stalled or failed at: ${lines.at(-1)}\n${run.stderr}`)
    expect(started).toBe(10)
    expect(done).toHaveLength(10)
    expect(done.every((l) => l.endsWith("in-bounds"))).toBe(true)
  }, 130_000)
})
