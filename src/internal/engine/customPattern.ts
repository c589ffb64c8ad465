/**
 * The custom PII patterns of a policy run on RE2 (re2js), which is linear in the scanned text by
 * construction. A pattern is refused when RE2 cannot run it, said in RE2's terms, or when it can
 * match an empty span, which would taint every text.
 */
import { Either } from "effect"
import { RE2JS } from "re2js"
import { EXCERPT, reasonOf, shorten } from "./policyInput.js"

/** The RE2 program of `source`, or why there is none. */
export const compilePattern = (source: string): Either.Either<RE2JS, string> => {
  let regex: RE2JS
  try {
    regex = RE2JS.compile(source)
  } catch (error) {
    // Only a pattern RE2 refused is searched for the Perl syntax to name, so that a misreading
    // of the search can change a message, never refuse a pattern RE2 runs.
    return Either.left(
      perlOnlySyntax(source) ?? `RE2 cannot compile this pattern: ${shorten(reasonOf(error), 2 * EXCERPT)}`
    )
  }
  return matchesEmptySpan(regex)
    ? Either.left("the pattern can match an empty span (such as ^, \\b or x*), so it would taint every text")
    : Either.right(regex)
}

/**
 * Lookaround and backreferences, which RE2 does not have (they cannot run in linear time), in
 * RE2's terms: re2js calls a lookbehind an "invalid named capture" and `\1` an "invalid escape".
 */
const perlOnlySyntax = (source: string): string | undefined => {
  let inClass = false
  for (let i = 0; i < source.length; i++) {
    const c = source[i]
    if (c === "\\") {
      const next = source[i + 1] ?? ""
      if (next === "Q") {
        // \Q...\E quotes its text literally.
        const end = source.indexOf("\\E", i + 2)
        if (end < 0) return undefined
        i = end + 1
        continue
      }
      if (!inClass && (/[1-9]/.test(next) || (next === "k" && /[<{']/.test(source[i + 2] ?? "")))) {
        return `RE2 has no backreferences (\\1, \\k<name>), which this pattern uses: \\${next}`
      }
      i++
    } else if (inClass) {
      if (c === "]") inClass = false
    } else if (c === "[") {
      inClass = true
      // A "]" right after "[" or "[^" is a literal member of the class.
      if (source[i + 1] === "^") i++
      if (source[i + 1] === "]") i++
    } else if (c === "(") {
      const lookaround = ["(?=", "(?!", "(?<=", "(?<!"].find((open) => source.startsWith(open, i))
      if (lookaround !== undefined) {
        return `RE2 has no lookaround (lookahead (?= (?!, lookbehind (?<= (?<!), which this pattern uses: ${lookaround}`
      }
    }
  }
  return undefined
}

// Texts on which a pattern that can match an empty span does so: at the start, at the end, at
// a word boundary, between characters of each common class.
const EMPTY_SPAN_PROBES = ["", "a", " ", "0", "a b", "a-b", "ab", "00", "a\nb", "Aa0_ .-@"]

const matchesEmptySpan = (regex: RE2JS): boolean =>
  EMPTY_SPAN_PROBES.some((probe) => {
    const matcher = regex.matcher(probe)
    let from = 0
    while (from <= probe.length && matcher.find(from)) {
      if (matcher.start() === matcher.end()) return true
      from = matcher.end()
    }
    return false
  })
