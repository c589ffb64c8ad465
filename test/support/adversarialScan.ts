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
  ["almost IBANs", "DE89 ".repeat(200_000)]
]

const detector = Effect.runSync(Effect.provide(PIIDetector, PIIDetector.Default))
for (const [name, text] of adversarial) {
  process.stdout.write(`start ${name}\n`)
  const matches = detector.scan(text)
  const inBounds = matches.every((m) => m.start < m.end && m.end <= text.length)
  process.stdout.write(`done ${name} ${matches.length} ${inBounds ? "in-bounds" : "OUT-OF-BOUNDS"}\n`)
}
