/**
 * The built-in recognizers of personal data, each a pattern that finds candidates and a check
 * that finds the real occurrences in a candidate.
 *
 * The patterns are linear by design, so that a megabyte of adversarial input cannot stall a
 * check: every quantifier has an upper bound and none is nested in an unbounded one, so one
 * match attempt examines a bounded window; and each pattern opens with a lookbehind that
 * rejects a start in the middle of a run (inside a run of digits, of address characters...) in
 * constant time, so a long run costs one attempt, not one per position.
 */
import validator from "validator"
import type { PIIType } from "../../PIIType.js"

export interface Recognizer {
  readonly type: PIIType
  readonly pattern: RegExp
  /** The spans of the candidate, relative to it, that are really this kind of data. */
  readonly locate: (candidate: string) => ReadonlyArray<readonly [number, number]>
}

/** The whole candidate when it passes `check`. */
const whole =
  (check: (candidate: string) => boolean) =>
  (candidate: string): ReadonlyArray<readonly [number, number]> =>
    check(candidate) ? [[0, candidate.length]] : []

/** One confirmed occurrence: its kind and its span `[start, end)`. */
export interface Found {
  readonly type: PIIType
  readonly start: number
  readonly end: number
}

const digitsOnly = (s: string) => s.replace(/[^0-9]/g, "")

// Social security numbers: area 001-899 except 666, group 01-99, serial 0001-9999.
const isSsn = (s: string): boolean => {
  const [area, group, serial] = s.split("-") as [string, string, string]
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

const groupsOf = (run: string, separator: RegExp): Array<Group> => {
  const groups: Array<Group> = []
  let start = 0
  for (let i = 0; i <= run.length; i++) {
    if (i === run.length || separator.test(run[i]!)) {
      if (i > start) groups.push({ start, end: i, digits: run.slice(start, i) })
      start = i + 1
    }
  }
  return groups
}

/**
 * The card numbers in a run of digit groups: a single group of 13 to 19 digits, or consecutive
 * groups of 3 or more digits (4-4-4-4, 4-6-5...) adding up to 13 to 19, whose digits pass the
 * Luhn check and an issuer's format; the longest first, left to right.
 */
const cardsIn = (run: string): Array<readonly [number, number]> => {
  const groups = groupsOf(run, /[ -]/)
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

// ISO 7064 mod 97-10, only to skip the candidates that cannot be an IBAN before validator
// checks the country's format and the same checksum.
const mod97 = (compact: string): boolean => {
  const rearranged = compact.slice(4) + compact.slice(0, 4)
  let remainder = 0
  for (const char of rearranged) {
    const value = char >= "A" ? char.charCodeAt(0) - 55 : char.charCodeAt(0) - 48
    remainder = (value >= 10 ? remainder * 100 + value : remainder * 10 + value) % 97
  }
  return remainder === 1
}

/**
 * The IBAN at the start of a candidate, which may run on into other groups: the longest
 * prefix, ending at a group's end or inside the last group, that passes.
 */
const ibanIn = (candidate: string): Array<readonly [number, number]> => {
  for (let end = candidate.length; end >= 15; end--) {
    if (candidate[end - 1] === " ") continue
    const compact = candidate.slice(0, end).replace(/ /g, "")
    if (compact.length < 15 || compact.length > 34) continue
    if (mod97(compact) && validator.isIBAN(compact)) return [[0, end]]
  }
  return []
}

export const builtIn: ReadonlyArray<Recognizer> = [
  {
    type: "EMAIL",
    pattern: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}/g,
    locate: whole((s) => validator.isEmail(s))
  },
  {
    // A run of digits in groups separated by single spaces or dashes; the cards are found in
    // it by `cardsIn`, so digits around a card (an expiry date, a quantity) do not hide it.
    type: "CREDIT_CARD",
    pattern: /(?<![0-9])[0-9](?:[ -]?[0-9]){12,40}(?![0-9])/g,
    locate: cardsIn
  },
  {
    type: "SSN",
    pattern: /(?<![0-9-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9-])/g,
    locate: whole(isSsn)
  },
  {
    // Country code, check digits, then the account in groups of four with or without spaces.
    type: "IBAN",
    pattern: /(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])/g,
    locate: ibanIn
  },
  {
    type: "IP_ADDRESS",
    pattern: /(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?!\.?[0-9])/g,
    locate: whole((s) => validator.isIP(s, 4))
  },
  {
    type: "IP_ADDRESS",
    pattern: /(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])/g,
    locate: whole(isIpv6Address)
  },
  {
    // International numbers (+ and 7 to 15 digits) and North American ones with separators:
    // (415) 555-2671, 415-555-2671, 415.555.2671. Bare digit runs are not taken for phones.
    type: "PHONE",
    pattern:
      /(?<![0-9+])(?:\+[0-9](?:[ .-]?[0-9]){6,14}|\+[0-9]{1,3}[ .-]?\([0-9]{1,4}\)(?:[ .-]?[0-9]){4,12}|\([0-9]{3}\) ?[0-9]{3}[ .-][0-9]{4}|[0-9]{3}([.-])[0-9]{3}\1[0-9]{4})(?![0-9])/g,
    locate: whole((s) => {
      const digits = digitsOnly(s).length
      return digits >= 7 && digits <= 15
    })
  }
]

/** Every confirmed occurrence in the whole of `text`, in order of position. */
export const scan = (text: string): Array<Found> => {
  const found: Array<Found> = []
  for (const recognizer of builtIn) {
    for (const match of text.matchAll(recognizer.pattern)) {
      for (const [start, end] of recognizer.locate(match[0])) {
        found.push({ type: recognizer.type, start: match.index + start, end: match.index + end })
      }
    }
  }
  return found.sort((a, b) => a.start - b.start || a.end - b.end)
}
