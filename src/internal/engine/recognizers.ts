/**
 * The built-in recognizers of personal data. A text is normalized first (see `normalize.ts`:
 * other scripts' digits, full-width forms, invisible characters, percent-encoding and odd
 * spacing no longer hide anything), the recognizers read the normalized text, and what they
 * find is reported at its span in the original.
 *
 * Each recognizer is linear in the length of the text, so that a megabyte of adversarial input
 * cannot stall a check: a pattern's quantifiers are bounded, or match a run that the pattern
 * then ends (so no start position is tried twice), and each pattern opens with a lookbehind
 * that rejects a start in the middle of a run in constant time. What a candidate is checked
 * with (Luhn, mod 97, a country's format...) costs a bounded amount per candidate or per start
 * position within it.
 */
import validator from "validator"
import type { PIIType } from "../../PIIType.js"
import { isSnils } from "./checksums.js"
import { scanContext } from "./context.js"
import { normalize, originalSpan } from "./normalize.js"

/** One confirmed occurrence: its kind and its span `[start, end)`. */
export interface Found {
  readonly type: PIIType
  readonly start: number
  readonly end: number
}

/** Every confirmed occurrence in the whole of `text`, in order of position, spans in `text`. */
export const scan = (text: string): Array<Found> => {
  const normalized = normalize(text)
  const found: Array<Found> = []
  const seen = new Set<string>()
  for (const match of scanNormalized(normalized.text)) {
    const [start, end] = originalSpan(normalized, match.start, match.end)
    for (const type of match.types) {
      const key = `${type} ${start} ${end}`
      if (!seen.has(key)) {
        seen.add(key)
        found.push({ type, start, end })
      }
    }
  }
  return found.sort((a, b) => a.start - b.start || a.end - b.end)
}

/** A match in the normalized text: its kinds and its span there. */
interface Match {
  readonly types: ReadonlyArray<PIIType>
  readonly start: number
  readonly end: number
}

interface Recognizer {
  readonly types: ReadonlyArray<PIIType>
  /** What a text must contain for the pattern to match at all. */
  readonly needs: ReadonlyArray<"digit" | "at" | "colon">
  readonly pattern: RegExp
  /** The spans of the candidate, relative to it, that are really this kind of data. */
  readonly locate: (candidate: string) => ReadonlyArray<readonly [number, number]>
}

const scanNormalized = (text: string): Array<Match> => {
  const found: Array<Match> = []
  // What each recognizer needs at least, so that a text without it costs no pass of its own.
  const has = { digit: /[0-9]/.test(text), at: text.includes("@"), colon: text.includes(":") }
  for (const recognizer of patterns) {
    if (!recognizer.needs.every((need) => has[need])) continue
    for (const match of text.matchAll(recognizer.pattern)) {
      for (const [start, end] of recognizer.locate(match[0])) {
        found.push({ types: recognizer.types, start: match.index + start, end: match.index + end })
      }
    }
  }
  if (has.digit) {
    for (const [start, end] of ibans(text)) found.push({ types: ["IBAN"], start, end })
    // Every value a context word vouches for has digits.
    found.push(...scanContext(text))
  }
  return found
}

/** The whole candidate when it passes `check`. */
const whole =
  (check: (candidate: string) => boolean) =>
  (candidate: string): ReadonlyArray<readonly [number, number]> =>
    check(candidate) ? [[0, candidate.length]] : []

const digitsOf = (s: string) => s.replace(/[^0-9]/g, "")

/**
 * The address in a candidate: the whole of it, or, when its last labels are not a valid domain
 * (`jane@example.org.-x`), the longest shorter one that is.
 */
const emailIn = (candidate: string): ReadonlyArray<readonly [number, number]> => {
  let end = candidate.length
  const at = candidate.indexOf("@")
  while (end > at) {
    if (validator.isEmail(candidate.slice(0, end))) return [[0, end]]
    end = candidate.lastIndexOf(".", end - 1)
  }
  return []
}

// Social security numbers: area 001-899 except 666, group 01-99, serial 0001-9999.
const isSsn = (s: string): boolean => {
  const [area, group, serial] = s.split(/[ .-]/) as [string, string, string]
  return area !== "000" && area !== "666" && area[0] !== "9" && group !== "00" && serial !== "0000"
}

// IPv6 candidates also match things like `std::` in code; an address needs three groups.
const isIpv6Address = (s: string): boolean =>
  validator.isIP(s, 6) && s.split(":").filter((g) => g.length > 0).length >= 3

interface Group {
  readonly start: number
  readonly end: number
  readonly digits: string
}

const groupsOf = (run: string): Array<Group> =>
  Array.from(run.matchAll(/[0-9]+/g), (m) => ({ start: m.index, end: m.index + m[0].length, digits: m[0] }))

/**
 * The card numbers in a run of digit groups: a single group of 13 to 19 digits, or consecutive
 * groups of 3 or more digits (4-4-4-4, 4-6-5...) adding up to 13 to 19, whose digits pass the
 * Luhn check and an issuer's format; the longest first, from every group on. Each group starts
 * a bounded number of windows, so a run of any length costs time linear in its length.
 */
const cardsIn = (run: string): Array<readonly [number, number]> => {
  const groups = groupsOf(run)
  const found: Array<readonly [number, number]> = []
  let i = 0
  while (i < groups.length) {
    const windows: Array<readonly [number, string]> = []
    let digits = ""
    for (let j = i; j < groups.length; j++) {
      if (j > i && (groups[i]!.digits.length < 3 || groups[j]!.digits.length < 3)) break
      digits += groups[j]!.digits
      if (digits.length > 19) break
      if (digits.length >= 13) windows.push([j, digits])
    }
    const card = windows
      .reverse()
      .find(([, candidate]) => validator.isLuhnNumber(candidate) && validator.isCreditCard(candidate))
    if (card === undefined) {
      i++
    } else {
      found.push([groups[i]!.start, groups[card[0]]!.end])
      i = card[0] + 1
    }
  }
  return found
}

/** A Russian number: +7 or 8, then ten digits; with 8, written in groups, as people write it. */
const isRuPhone = (s: string): boolean => {
  const digits = digitsOf(s)
  if (s.startsWith("+")) return /^7[3-9]/.test(digits)
  return /^8[3489]/.test(digits) && /[ .()-]/.test(s)
}

const patterns: ReadonlyArray<Recognizer> = [
  {
    types: ["EMAIL"],
    needs: ["at"],
    pattern:
      /(?<![\p{L}\p{M}\p{N}._%+-])[\p{L}\p{M}\p{N}._%+-]{1,64}@[\p{L}\p{M}\p{N}-]{1,63}(?:\.[\p{L}\p{M}\p{N}-]{1,63}){1,8}/gu,
    locate: emailIn
  },
  {
    // A whole run of digit groups, each separator one space, dash, dot or slash (the normalized
    // text has one between two groups); the cards are found in it by `cardsIn`, so digits around
    // a card (an expiry date, a quantity, any number of groups before it) do not hide it.
    types: ["CREDIT_CARD"],
    needs: ["digit"],
    pattern: /(?<![0-9])[0-9]+(?:[ ./-][0-9]+)*/g,
    locate: cardsIn
  },
  {
    // A number of its own: not the end or the start of a longer run of groups.
    types: ["SSN"],
    needs: ["digit"],
    pattern: /(?<![0-9])(?<![0-9][ ./-])[0-9]{3}([ .-])[0-9]{2}\1[0-9]{4}(?![0-9])(?![ ./-][0-9])/g,
    locate: whole(isSsn)
  },
  {
    types: ["IP_ADDRESS"],
    needs: ["digit"],
    pattern: /(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?!\.?[0-9])/g,
    locate: whole((s) => validator.isIP(s, 4))
  },
  {
    types: ["IP_ADDRESS"],
    needs: ["colon"],
    pattern: /(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])/g,
    locate: whole(isIpv6Address)
  },
  {
    // International numbers (+ and 7 to 15 digits) and North American ones with separators:
    // (415) 555-2671, 415-555-2671, 415.555.2671. Bare digit runs are not taken for phones.
    types: ["PHONE"],
    needs: ["digit"],
    pattern:
      /(?<![0-9+])(?:\+[0-9](?:[ .-]?[0-9]){6,14}|\+[0-9]{1,3}[ .-]{0,2}\([0-9]{1,4}\)(?:[ .-]{0,2}[0-9]){4,12}|\([0-9]{3}\) {0,2}[0-9]{3}[ .-][0-9]{4}|[0-9]{3}([.-])[0-9]{3}\1[0-9]{4})(?![0-9])/g,
    locate: whole((s) => {
      const digits = digitsOf(s).length
      return digits >= 7 && digits <= 15
    })
  },
  {
    // +7 (495) 123-45-67, 8 912 345 67 89, +79123456789: a phone too.
    types: ["RU_PHONE", "PHONE"],
    needs: ["digit"],
    pattern:
      /(?<![0-9+])(?:\+7|8)[ .-]{0,2}(?:\([0-9]{3}\)|[0-9]{3})[ .-]{0,2}[0-9]{3}[ .-]?[0-9]{2}[ .-]?[0-9]{2}(?![0-9])/g,
    locate: whole(isRuPhone)
  },
  {
    // 112-233-445 95: the written form; bare digits are taken only near the word (context.ts).
    types: ["SNILS"],
    needs: ["digit"],
    pattern: /(?<![0-9])(?<![0-9][ ./-])[0-9]{3}-[0-9]{3}-[0-9]{3}[ -][0-9]{2}(?![0-9])(?![ ./-][0-9])/g,
    locate: whole((s) => isSnils(digitsOf(s)))
  },
  {
    // 45 06 123456: series (region, year) and number, as printed; 10 bare digits only near the
    // word "passport" (context.ts).
    types: ["RU_PASSPORT"],
    needs: ["digit"],
    pattern: /(?<![0-9])(?<![0-9][ ./-])[0-9]{2} [0-9]{2} [0-9]{6}(?![0-9])(?![ ./-][0-9])/g,
    locate: whole(() => true)
  }
]

/**
 * The IBANs in a text: from every start of a word that opens with a country code and two check
 * digits (letters in either case), the longest run of up to 34 letters and digits, in groups
 * separated by single spaces, dashes, dots or slashes, that passes mod 97 and its country's
 * format. Each start reads at most 34 characters and keeps the mod-97 remainder as it goes, so
 * the whole text costs time linear in its length however the groups are arranged.
 */
const ibans = (text: string): Array<readonly [number, number]> => {
  const found: Array<readonly [number, number]> = []
  const starts = /(?<![\p{L}\p{N}])[A-Za-z]{2}[ ./-]?[0-9]{2}/gu
  let match = starts.exec(text)
  while (match !== null) {
    const span = ibanAt(text, match.index)
    if (span !== undefined) {
      found.push(span)
      starts.lastIndex = span[1]
    }
    match = starts.exec(text)
  }
  return found
}

const ibanAt = (text: string, start: number): readonly [number, number] | undefined => {
  let compact = ""
  // The remainder of the account part (from the fifth character) modulo 97, as it grows.
  let account = 0
  const ends: Array<readonly [string, number]> = []
  let i = start
  while (i < text.length && compact.length < 34) {
    const code = text.charCodeAt(i)
    if (isSeparator(code) && compact.length > 0 && isAlnum(text.charCodeAt(i + 1))) {
      i++
      continue
    }
    if (!isAlnum(code)) break
    const char = text[i]!.toUpperCase()
    compact += char
    if (compact.length > 4) account = mod97Step(account, char)
    i++
    if (compact.length >= 15 && isRemainderOne(account, compact)) ends.push([compact, i])
  }
  for (let k = ends.length - 1; k >= 0; k--) {
    if (validator.isIBAN(ends[k]![0])) return [start, ends[k]![1]]
  }
  return undefined
}

const isSeparator = (code: number) => code === 0x20 || code === 0x2d || code === 0x2e || code === 0x2f
const isAlnum = (code: number) =>
  (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)

// ISO 7064 mod 97-10 over the rearranged number (account, then country code and check digits),
// letters counting as two digits (A = 10). Only to skip what cannot be an IBAN before
// `validator` checks the country's format and the same checksum.
const mod97Step = (remainder: number, char: string): number => {
  const value = char >= "A" ? char.charCodeAt(0) - 55 : char.charCodeAt(0) - 48
  return (value >= 10 ? remainder * 100 + value : remainder * 10 + value) % 97
}

const isRemainderOne = (account: number, compact: string): boolean => {
  let remainder = account
  for (let k = 0; k < 4; k++) remainder = mod97Step(remainder, compact[k]!)
  return remainder === 1
}
