import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { allPIITypes, PIIDetector, type PIIType } from "../src/index.js"
import { falsePositiveCorpus } from "./support/falsePositiveCorpus.js"
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
    [
      "+1 415 555 2671",
      "+14155552671",
      "+44 20 7946 0958",
      "(415) 555-2671",
      "415-555-2671",
      "415.555.2671",
      // Russian numbers are phones too.
      "8 (800) 555-35-35"
    ],
    ["2024-01-15", "12:30:45", "415-555-267", "v1.2.3"]
  ],
  [
    "RU_PHONE",
    ["+7 (495) 123-45-67", "+7 912 345 67 89", "+79123456789", "8 (800) 555-35-35", "8-912-345-67-89"],
    // No grouping after 8 (an order number), an area code that does not exist, too short.
    ["89123456789", "8 (123) 456-78-90", "+7 912 345 67 8"]
  ],
  [
    "SNILS",
    // The written form; bare digits near the word.
    ["112-233-445 95", "СНИЛС 11223344595", "SNILS: 112 233 445 95"],
    // Wrong check digits; bare digits without the word; a number from before the check existed.
    ["112-233-445 96", "11223344595", "СНИЛС 001-001-998 00"]
  ],
  [
    "INN",
    ["ИНН 7707083893", "INN: 500100732259", "taxpayer number 7707083893", "инн7707083893"],
    // Wrong check digit; no context word; a word that only contains it.
    ["ИНН 7707083894", "7707083893", "dinner 7707083893", "ИНН 500100732258"]
  ],
  [
    "RU_PASSPORT",
    ["45 06 123456", "паспорт 4506 123456", "passport: 4506123456"],
    ["4506123456", "45 06 12345", "145 06 123456"]
  ],
  [
    "PASSPORT",
    ["passport no. 533380006", "Passport C01X00T47", "паспорт 45 06 123456", "passport: L898902C3"],
    // A passport number without the word; the word without a number; a date.
    ["533380006", "passport photo, 2 pages", "passport expires 2030-01-01"]
  ],
  [
    "DATE_OF_BIRTH",
    [
      "date of birth: 1990-05-17",
      "DOB 05/17/1990",
      "born 17 May 1990",
      "дата рождения 17.05.1990",
      "родился 17 мая 1990 г.",
      "Born on March 3, 1985"
    ],
    // An ordinary date; a date that does not exist; a date too far from the word.
    ["released 1990-05-17", "DOB 31/02/1990", `born in a small town ${"far ".repeat(12)}on 1990-05-17`]
  ]
]

describe("PIIDetector", () => {
  for (const [type, positives, negatives] of cases) {
    it.effect(`finds ${type}`, () =>
      Effect.gen(function* () {
        for (const value of positives) {
          const text = `before ${value} after`
          const matches = (yield* found(text)).filter(([t]) => t === type)
          expect(matches, value).toHaveLength(1)
          // The span is the value itself, or (with a context word) ends where the value ends.
          expect(value.endsWith(matches[0]![1]) || value.includes(matches[0]![1]), value).toBe(true)
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

  it.effect("finds a card number after any number of digit groups", () =>
    Effect.gen(function* () {
      const text = "0000 0000 0000 0000 0000 0000 0000 4111 1111 1111 1111"
      expect(yield* found(text)).toContainEqual(["CREDIT_CARD", "4111 1111 1111 1111"])
      const long = `${"1234 ".repeat(10_000)}5500 0000 0000 0004 ${"9 ".repeat(10_000)}`
      expect(yield* found(long)).toContainEqual(["CREDIT_CARD", "5500 0000 0000 0004"])
    })
  )

  it.effect("finds an IBAN after IBAN-shaped groups, from any group on", () =>
    Effect.gen(function* () {
      expect(yield* found("AB12 GB82 WEST 1234 5698 7654 32")).toContainEqual([
        "IBAN",
        "GB82 WEST 1234 5698 7654 32"
      ])
      const long = `${"AB12 ".repeat(1_000)}DE89 3704 0044 0532 0130 00`
      expect(yield* found(long)).toContainEqual(["IBAN", "DE89 3704 0044 0532 0130 00"])
    })
  )

  it.effect("finds an IBAN followed by more groups of characters", () =>
    Effect.gen(function* () {
      const text = "IBAN DE89 3704 0044 0532 0130 00 1234 ref"
      expect(yield* found(text)).toContainEqual(["IBAN", "DE89 3704 0044 0532 0130 00"])
      expect(yield* found("GB82WEST12345698765432 ABCD")).toContainEqual(["IBAN", "GB82WEST12345698765432"])
    })
  )

  // Each is written the way a person or program at the other end still reads as the data; the
  // span reported is the original text of it.
  const evasions: ReadonlyArray<readonly [PIIType, string, string]> = [
    ["CREDIT_CARD", "card 4111.1111.1111.1111 ok", "4111.1111.1111.1111"],
    ["CREDIT_CARD", "card 4111/1111/1111/1111 ok", "4111/1111/1111/1111"],
    ["CREDIT_CARD", "card 4111  1111  1111  1111 ok", "4111  1111  1111  1111"],
    ["CREDIT_CARD", "card 4111\u00a01111\u00a01111\u00a01111 ok", "4111\u00a01111\u00a01111\u00a01111"],
    ["CREDIT_CARD", "card 4111\t1111\t1111\t1111 ok", "4111\t1111\t1111\t1111"],
    ["CREDIT_CARD", "card\n4111\n1111\n1111\n1111\nok", "4111\n1111\n1111\n1111"],
    ["CREDIT_CARD", "card ４１１１ １１１１ １１１１ １１１１ ok", "４１１１ １１１１ １１１１ １１１１"],
    ["CREDIT_CARD", "card ٤١١١ ١١١١ ١١١١ ١١١١ ok", "٤١١١ ١١١١ ١١١١ ١١١١"],
    ["CREDIT_CARD", "card ४१११ ११११ ११११ ११११ ok", "४१११ ११११ ११११ ११११"],
    ["CREDIT_CARD", "card 4111\u200b1111\u200b1111\u200b1111 ok", "4111\u200b1111\u200b1111\u200b1111"],
    ["CREDIT_CARD", "card 4111 \u200b1111 \u200d1111 \u00ad1111 ok", "4111 \u200b1111 \u200d1111 \u00ad1111"],
    ["CREDIT_CARD", "card 4111 – 1111 – 1111 – 1111 ok", "4111 – 1111 – 1111 – 1111"],
    ["IBAN", "iban gb82 west 1234 5698 7654 32 ok", "gb82 west 1234 5698 7654 32"],
    ["IBAN", "iban gb82-west-1234-5698-7654-32 ok", "gb82-west-1234-5698-7654-32"],
    ["SSN", "ssn 123 45 6789 ok", "123 45 6789"],
    ["EMAIL", "mail john＠example.com ok", "john＠example.com"],
    ["EMAIL", "mail john@exämple.com ok", "john@exämple.com"],
    ["EMAIL", "https://x.test/?to=john%40example.com&x=1", "john%40example.com"],
    ["EMAIL", "mailto:john%40ex%C3%A4mple.com", "john%40ex%C3%A4mple.com"],
    ["EMAIL", "mail j\u200bo\u200bh\u200bn@example.com ok", "j\u200bo\u200bh\u200bn@example.com"]
  ]

  it.effect("finds personal data written in other digits, widths, separators and encodings", () =>
    Effect.gen(function* () {
      for (const [type, text, original] of evasions) {
        expect(yield* found(text), text).toContainEqual([type, original])
      }
    })
  )

  it.effect("look-alikes keep their checksums after normalization", () =>
    Effect.gen(function* () {
      for (const text of [
        "4111.1111.1111.1112",
        "４１１１ １１１１ １１１１ １１１２",
        "٤١١١ ١١١١ ١١١١ ١١١٢",
        "4111\u200b1111\u200b1111\u200b1112",
        "gb82-west-1234-5698-7654-33",
        "000 12 3456"
      ]) {
        expect(yield* found(text), text).toEqual([])
      }
    })
  )

  it.effect("a context word counts within 40 characters before the value, not after it", () =>
    Effect.gen(function* () {
      const types = (text: string) => Effect.map(found(text), (m) => m.map(([t]) => t))
      expect(yield* types(`ИНН${" ".repeat(40)}7707083893`)).toEqual(["INN"])
      expect(yield* types(`ИНН${" ".repeat(41)}7707083893`)).toEqual([])
      expect(yield* types("7707083893 ИНН")).toEqual([])
      // In identifiers, as keys are written: dateOfBirth, client_inn, passportNumber.
      expect(yield* types("dateOfBirth: 1990-05-17")).toEqual(["DATE_OF_BIRTH"])
      expect(yield* types("client_inn=7707083893")).toEqual(["INN"])
      expect(yield* types("clientInn=7707083893")).toEqual(["INN"])
      expect(yield* types("passportNumber 533380006")).toEqual(["PASSPORT"])
      // Case does not matter, in either script.
      expect(yield* types("иНн 7707083893, DaTe Of BiRtH 1990-05-17")).toEqual(["INN", "DATE_OF_BIRTH"])
    })
  )

  it.effect("ordinary tool arguments hold no personal data", () =>
    Effect.gen(function* () {
      for (const text of falsePositiveCorpus) {
        expect(yield* found(text), text).toEqual([])
      }
      expect(falsePositiveCorpus.length).toBeGreaterThanOrEqual(60)
    })
  )

  it.effect("every kind but CUSTOM has a built-in recognizer", () =>
    Effect.gen(function* () {
      const samples = [
        "jane@example.org",
        "+1 415 555 2671",
        "4111 1111 1111 1111",
        "123-45-6789",
        "DE89 3704 0044 0532 0130 00",
        "10.0.0.7",
        "passport 533380006",
        "DOB 1990-05-17",
        "ИНН 7707083893",
        "112-233-445 95",
        "45 06 123456",
        "+7 912 345 67 89"
      ]
      const kinds = new Set<PIIType>()
      for (const sample of samples) for (const [type] of yield* found(sample)) kinds.add(type)
      expect(allPIITypes.filter((t) => !kinds.has(t))).toEqual(["CUSTOM"])
    })
  )

  it.effect.prop(
    "spans are valid indexes into the original text, whatever it holds",
    [
      fc.array(
        fc.oneof(
          fc.fullUnicodeString({ maxLength: 8 }),
          fc.constantFrom(
            "4111",
            "١١١١",
            "４",
            "\u200b",
            "\u00ad",
            "%40",
            "%C3%A4",
            "%E2",
            " ",
            " - ",
            "\n",
            "@",
            "ex",
            "ample.com",
            "gb82",
            "ИНН ",
            "7707083893",
            "\ud83d",
            "\u0301"
          )
        ),
        { maxLength: 24 }
      )
    ],
    ([parts]) =>
      Effect.gen(function* () {
        // Also with data that needs normalizing at the very end, where a span could overrun.
        for (const text of [parts.join(""), `${parts.join("")} ４１１１ １１１１ １１１１ １１１１`]) {
          for (const match of yield* scan(text)) {
            expect(match.start).toBeGreaterThanOrEqual(0)
            expect(match.start).toBeLessThan(match.end)
            expect(match.end).toBeLessThanOrEqual(text.length)
          }
        }
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
    const inputs = Number(lines[0]?.replace("inputs ", ""))
    const started = lines.filter((l) => l.startsWith("start ")).length
    const done = lines.filter((l) => l.startsWith("done "))
    if (run.status !== 0) throw new Error(`the scan stalled or failed at: ${lines.at(-1)}\n${run.stderr}`)
    expect(inputs).toBeGreaterThanOrEqual(20)
    expect(started).toBe(inputs)
    expect(done).toHaveLength(inputs)
    expect(done.every((l) => l.endsWith("in-bounds"))).toBe(true)
  }, 130_000)
})
