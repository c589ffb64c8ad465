/**
 * The built-in recognizers of personal data, each a pattern that finds candidates and a check
 * that confirms them.
 *
 * The patterns are linear by design, so that a megabyte of adversarial input cannot stall a
 * check: every quantifier has an upper bound and none is nested in an unbounded one, so one
 * match attempt examines a bounded window; and each pattern opens with a lookbehind that
 * rejects a start in the middle of a run (inside a run of digits, of address characters...) in
 * constant time, so a long run costs one attempt, not one per position.
 */
import validator from "validator"
import type { PIIType } from "../PIIType.js"

export interface Recognizer {
  readonly type: PIIType
  readonly pattern: RegExp
  readonly confirm: (candidate: string) => boolean
}

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

export const builtIn: ReadonlyArray<Recognizer> = [
  {
    type: "EMAIL",
    pattern: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}/g,
    confirm: (s) => validator.isEmail(s)
  },
  {
    // 13 to 19 digits, optionally in groups separated by single spaces or dashes.
    type: "CREDIT_CARD",
    pattern: /(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])/g,
    confirm: (s) => validator.isCreditCard(digitsOnly(s))
  },
  {
    type: "SSN",
    pattern: /(?<![0-9-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9-])/g,
    confirm: isSsn
  },
  {
    // Country code, check digits, then the account in groups of four with or without spaces.
    type: "IBAN",
    pattern: /(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])/g,
    confirm: (s) => validator.isIBAN(s.replace(/ /g, ""))
  },
  {
    type: "IP_ADDRESS",
    pattern: /(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?!\.?[0-9])/g,
    confirm: (s) => validator.isIP(s, 4)
  },
  {
    type: "IP_ADDRESS",
    pattern: /(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])/g,
    confirm: isIpv6Address
  },
  {
    // International numbers (+ and 7 to 15 digits) and North American ones with separators:
    // (415) 555-2671, 415-555-2671, 415.555.2671. Bare digit runs are not taken for phones.
    type: "PHONE",
    pattern:
      /(?<![0-9+])(?:\+[0-9](?:[ .-]?[0-9]){6,14}|\+[0-9]{1,3}[ .-]?\([0-9]{1,4}\)(?:[ .-]?[0-9]){4,12}|\([0-9]{3}\) ?[0-9]{3}[ .-][0-9]{4}|[0-9]{3}([.-])[0-9]{3}\1[0-9]{4})(?![0-9])/g,
    confirm: (s) => {
      const digits = digitsOnly(s).length
      return digits >= 7 && digits <= 15
    }
  }
]

/** Every confirmed occurrence in the whole of `text`, in order of position. */
export const scan = (text: string): Array<Found> => {
  const found: Array<Found> = []
  for (const recognizer of builtIn) {
    for (const match of text.matchAll(recognizer.pattern)) {
      if (recognizer.confirm(match[0])) {
        found.push({ type: recognizer.type, start: match.index, end: match.index + match[0].length })
      }
    }
  }
  return found.sort((a, b) => a.start - b.start || a.end - b.end)
}
