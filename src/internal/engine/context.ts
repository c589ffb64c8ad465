/**
 * The kinds of personal data that look like ordinary numbers and dates, found only near a word
 * that says what they are: a Russian taxpayer number (INN) or insurance number (SNILS) written
 * as bare digits, a passport number, a date of birth. A bare 10-digit run passes the INN check
 * about one time in eleven, and every log line has dates; without the word they would taint
 * sessions at random.
 *
 * "Near" means that the value starts at most `NEAR` characters after the end of the word, in
 * the normalized text. The word is matched case-insensitively, as a word of its own (`inn`,
 * not `dinner`), or, for the longer words, also inside an identifier (`dateOfBirth`,
 * `client_passport_no`). Linear: the words are found in one pass, the spans within reach of a
 * word are merged, and only those spans (each with a bounded margin) are searched for values.
 */
import validator from "validator"
import type { PIIType } from "../../PIIType.js"
import { isInn, isSnils } from "./checksums.js"

/** The most characters between the end of a context word and the start of its value. */
export const NEAR = 40

/** A value found near its context word: its kinds and its span in the normalized text. */
export interface ContextMatch {
  readonly types: ReadonlyArray<PIIType>
  readonly start: number
  readonly end: number
}

/** Every value in `text` (normalized) that a context word vouches for. */
export const scanContext = (text: string): Array<ContextMatch> => {
  const found: Array<ContextMatch> = []
  for (const kind of kinds) {
    for (const [from, limit] of reach(text, kind.words)) {
      // The window holds every value that starts within reach, whole, and the characters the
      // patterns look at around it.
      const windowStart = Math.max(0, from - MARGIN)
      const window = text.slice(windowStart, Math.min(text.length, limit + MAX_VALUE + MARGIN))
      for (const match of kind.locate(window, from - windowStart, limit - windowStart)) {
        found.push({ types: match.types, start: windowStart + match.start, end: windowStart + match.end })
      }
    }
  }
  return found
}

/** A value's kinds and span, relative to the window it was found in. */
interface Located {
  readonly types: ReadonlyArray<PIIType>
  readonly start: number
  readonly end: number
}

interface ContextKind {
  /** The context words; each pattern is global. */
  readonly words: ReadonlyArray<RegExp>
  /** The values in `window` that start in `[from, limit]`. */
  readonly locate: (window: string, from: number, limit: number) => ReadonlyArray<Located>
}

const MAX_VALUE = 48
const MARGIN = 4

/**
 * The spans `[from, limit]` where a value may start: within `NEAR` after the end of a context
 * word, overlapping spans merged, in order.
 */
const reach = (text: string, words: ReadonlyArray<RegExp>): Array<readonly [number, number]> => {
  const ends: Array<number> = []
  for (const pattern of words)
    for (const match of text.matchAll(pattern)) ends.push(match.index + match[0].length)
  ends.sort((a, b) => a - b)
  const spans: Array<[number, number]> = []
  for (const end of ends) {
    const last = spans.at(-1)
    if (last !== undefined && end <= last[1]) last[1] = Math.max(last[1], end + NEAR)
    else spans.push([end, end + NEAR])
  }
  return spans
}

/** The matches of a global pattern in `window` that start in `[from, limit]`. */
const matchesIn = function* (pattern: RegExp, window: string, from: number, limit: number) {
  for (const match of window.matchAll(pattern)) {
    if (match.index > limit) return
    if (match.index >= from) yield match
  }
}

/** A value of one kind: matches of `pattern` that pass `check`. */
const checked =
  (type: PIIType, pattern: RegExp, check: (match: RegExpMatchArray) => boolean) =>
  (window: string, from: number, limit: number): Array<Located> => {
    const found: Array<Located> = []
    for (const match of matchesIn(pattern, window, from, limit)) {
      if (check(match)) found.push({ types: [type], start: match.index, end: match.index + match[0].length })
    }
    return found
  }

const digitsOf = (s: string) => s.replace(/[^0-9]/g, "")

// Passport formats `validator` knows, by country; a number of any of them counts.
const passportCountries = [
  "AM",
  "AR",
  "AT",
  "AU",
  "AZ",
  "BE",
  "BG",
  "BR",
  "BY",
  "CA",
  "CH",
  "CN",
  "CY",
  "CZ",
  "DE",
  "DK",
  "DZ",
  "EE",
  "ES",
  "FI",
  "FR",
  "GB",
  "GR",
  "HR",
  "HU",
  "IE",
  "IN",
  "ID",
  "IR",
  "IS",
  "IT",
  "JM",
  "JP",
  "KR",
  "KZ",
  "LI",
  "LT",
  "LU",
  "LV",
  "LY",
  "MT",
  "MZ",
  "MY",
  "MX",
  "NL",
  "NZ",
  "PH",
  "PK",
  "PL",
  "PT",
  "RO",
  "RU",
  "SE",
  "SL",
  "SK",
  "TH",
  "TR",
  "UA",
  "US",
  "ZA"
]

/**
 * The passport numbers near a passport word: one to three tokens (letters and digits, joined by
 * single spaces or dashes) that read as a passport number of a country `validator` knows, or as
 * a Russian internal passport (ten digits: series and number); at least four digits either way.
 */
const passports = (window: string, from: number, limit: number): Array<Located> => {
  const tokens = [...window.matchAll(/[\p{L}\p{N}]+/gu)].map((m) => ({
    start: m.index,
    end: m.index + m[0].length
  }))
  const found: Array<Located> = []
  let next = 0
  for (let i = 0; i < tokens.length; i++) {
    const first = tokens[i]!
    if (first.start < Math.max(from, next)) continue
    if (first.start > limit) break
    for (let k = Math.min(i + 2, tokens.length - 1); k >= i; k--) {
      if (!joined(window, tokens, i, k)) continue
      const written = window.slice(first.start, tokens[k]!.end)
      const types = isDateShaped(written) ? [] : passportTypes(written.replace(/[ -]/g, "").toUpperCase())
      if (types.length > 0) {
        found.push({ types, start: first.start, end: tokens[k]!.end })
        next = tokens[k]!.end
        break
      }
    }
  }
  return found
}

const joined = (
  window: string,
  tokens: ReadonlyArray<{ start: number; end: number }>,
  i: number,
  k: number
) => {
  for (let j = i; j < k; j++) {
    const gap = window.slice(tokens[j]!.end, tokens[j + 1]!.start)
    if (gap !== " " && gap !== "-") return false
  }
  return true
}

// A date after the word (an expiry date, an issue date) is not the number.
const isDateShaped = (written: string) =>
  /^(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}-[0-9]{1,2}-[0-9]{2,4})$/.test(written)

const passportTypes = (compact: string): ReadonlyArray<PIIType> => {
  if (compact.length < 6 || compact.length > 12 || digitsOf(compact).length < 4) return []
  if (/^[0-9]{10}$/.test(compact)) return ["PASSPORT", "RU_PASSPORT"]
  return passportCountries.some((country) => validator.isPassportNumber(compact, country)) ? ["PASSPORT"] : []
}

const months = new Map<string, number>()
for (const [month, words] of [
  [1, "january jan январь января янв"],
  [2, "february feb февраль февраля фев"],
  [3, "march mar март марта мар"],
  [4, "april apr апрель апреля апр"],
  [5, "may май мая"],
  [6, "june jun июнь июня июн"],
  [7, "july jul июль июля июл"],
  [8, "august aug август августа авг"],
  [9, "september sep sept сентябрь сентября сен сент"],
  [10, "october oct октябрь октября окт"],
  [11, "november nov ноябрь ноября ноя"],
  [12, "december dec декабрь декабря дек"]
] as const) {
  for (const word of words.split(" ")) months.set(word, month)
}

const pad = (n: number) => String(n).padStart(2, "0")

/** Whether year, month and day make a real date; a two-digit year may be of either century. */
const isRealDate = (year: string, month: number, day: number): boolean => {
  const years = year.length === 4 ? [year] : [`19${year}`, `20${year}`]
  return years.some((y) =>
    validator.isDate(`${y}-${pad(month)}-${pad(day)}`, {
      format: "YYYY-MM-DD",
      strictMode: true,
      delimiters: ["-"]
    })
  )
}

const numericDate =
  /(?<![0-9])(?:([0-9]{4})([-./])([0-9]{1,2})\2([0-9]{1,2})|([0-9]{1,2})([-./])([0-9]{1,2})\6([0-9]{4}|[0-9]{2}))(?![0-9])/g
const wordDate =
  /(?<![\p{L}\p{N}])(?:([0-9]{1,2})(?:st|nd|rd|th)?\.? ?(\p{L}{3,9})\.?,? ?([0-9]{4})|(\p{L}{3,9})\.? ([0-9]{1,2})(?:st|nd|rd|th)?,? ([0-9]{4}))(?![0-9])/giu

/** Whether a numeric date names a real day: year-month-day, or day and month in either order. */
const isNumericDate = (m: RegExpMatchArray): boolean => {
  if (m[1] !== undefined) return isRealDate(m[1], Number(m[3]), Number(m[4]))
  const [a, b, year] = [Number(m[5]), Number(m[7]), m[8]!]
  return isRealDate(year, b, a) || isRealDate(year, a, b)
}

/** Whether a date with the month in words names a real day. */
const isWordDate = (m: RegExpMatchArray): boolean => {
  const dayFirst = m[1] !== undefined
  const month = months.get((dayFirst ? m[2]! : m[4]!).toLowerCase())
  const day = Number(dayFirst ? m[1] : m[5])
  return month !== undefined && isRealDate(dayFirst ? m[3]! : m[6]!, month, day)
}

const dates = (window: string, from: number, limit: number): Array<Located> => [
  ...checked("DATE_OF_BIRTH", numericDate, isNumericDate)(window, from, limit),
  ...checked("DATE_OF_BIRTH", wordDate, isWordDate)(window, from, limit)
]

const kinds: ReadonlyArray<ContextKind> = [
  {
    words: [
      /(?<![\p{L}\p{N}])(?:инн|inn)(?!\p{L})|taxpayer|налогоплательщик/giu,
      /(?<=[\p{Ll}\p{N}])(?:Inn|INN|Инн|ИНН)(?!\p{Ll})/gu
    ],
    locate: checked("INN", /(?<![0-9])(?:[0-9]{12}|[0-9]{10})(?![0-9])/g, (m) => isInn(m[0]))
  },
  {
    words: [/снилс|snils/giu],
    locate: checked("SNILS", /(?<![0-9])[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{2}(?![0-9])/g, (m) =>
      isSnils(digitsOf(m[0]))
    )
  },
  {
    words: [/passport|паспорт/giu],
    locate: passports
  },
  {
    words: [
      /(?<![\p{L}\p{N}])(?:dob|d\.o\.b|born)(?!\p{L})|birth|рожден|родил/giu,
      /(?<=[\p{Ll}\p{N}])(?:Dob|DOB|Born)(?!\p{Ll})/gu
    ],
    locate: dates
  }
]
