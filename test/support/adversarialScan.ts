/**
 * Scans a megabyte of each kind of adversarial input, in its own process, and prints one line
 * per input as it finishes. The test runs it with a generous limit, so a pattern that stalls
 * is killed and named instead of hanging the test run.
 */
import { Effect } from "effect"
import { PIIDetector } from "../../src/index.js"

// Each input makes a backtracking pattern try every start position against a long run.
export const adversarial: ReadonlyArray<readonly [string, string]> = [
  ["a run of address characters", "a".repeat(1_000_000)],
  ["many almost-addresses", "a@b.".repeat(250_000)],
  ["address characters then an at sign", `${"a.".repeat(500_000)}@`],
  ["a run of digits", "4".repeat(1_000_000)],
  ["digits and separators", "4 ".repeat(500_000)],
  ["almost social security numbers", "123-45-".repeat(150_000)],
  ["almost IP addresses", "1.".repeat(500_000)],
  ["hex and colons", "ab:".repeat(333_333)],
  ["almost phone numbers", "+1 (".repeat(250_000)],
  ["almost IBANs", "DE89 ".repeat(200_000)],
  ["IBAN-shaped groups in lower case", "ab12-".repeat(200_000)],
  ["an IBAN start then account characters", `GB82${"WEST".repeat(250_000)}`],
  ["digit groups of every separator", "4111.1111/1111-1111 ".repeat(50_000)],
  ["separator runs between digits", "4 \t-\u00a0./".repeat(125_000)],
  ["format characters between digits", "4\u200b".repeat(500_000)],
  ["digits of other scripts", "٤१４".repeat(333_333)],
  ["percent-encoded bytes", "%40%C3%A4%E2%82".repeat(66_666)],
  ["context words and numbers", "ИНН 7707083894 ".repeat(66_666)],
  ["passport words and tokens", "passport AB 12 CD ".repeat(55_555)],
  ["birth words and dates", "born 31/02/1990 ".repeat(62_500)],
  ["almost Russian phones", "+7 (9".repeat(200_000)],
  [
    "distinct code points",
    Array.from({ length: 500_000 }, (_, i) => String.fromCodePoint(0x4e00 + (i % 20_000))).join("")
  ]
]

const detector = Effect.runSync(Effect.provide(PIIDetector, PIIDetector.Default))
process.stdout.write(`inputs ${adversarial.length}\n`)
for (const [name, text] of adversarial) {
  process.stdout.write(`start ${name}\n`)
  const matches = detector.scan(text)
  const inBounds = matches.every((m) => m.start < m.end && m.end <= text.length)
  process.stdout.write(`done ${name} ${matches.length} ${inBounds ? "in-bounds" : "OUT-OF-BOUNDS"}\n`)
}
