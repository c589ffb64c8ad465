/**
 * The text the recognizers read: what a person or a program at the other end would take the
 * text to say, so that writing personal data in another script, width or spacing does not hide
 * it. One pass, linear in the length of the text, and every code unit of the result remembers
 * the span of the original it came from, so that matches are reported in the original.
 *
 * In order: percent-encoded bytes are decoded (`%40` is `@`, `%C3%A4` is `ä`); format
 * characters (`\p{Cf}`: zero-width spaces and joiners, soft hyphens, bidi marks) are removed;
 * every code point is put in its compatibility form (NFKC: full-width `４` and `＠`, NBSP as a
 * space); every decimal digit of any script (`\p{Nd}`) becomes its ASCII digit; combining marks
 * on a digit are dropped; and a run of separators (white space, dashes, `.`, `/`) between two
 * letters or digits, one of them a digit, becomes one separator: a space, or the one dash, dot
 * or slash the run holds.
 */

/**
 * A normalized text and, for each of its code units, the span of the original it came from;
 * no spans when the text is its own normal form.
 */
export interface Normalized {
  readonly text: string
  readonly from: Int32Array | undefined
  readonly to: Int32Array | undefined
}

/** The normalized form of `source`. */
export const normalize = (source: string): Normalized => {
  // Most texts are printable ASCII with single separators: nothing to change, nothing to map.
  if (!needsWork.test(source)) return { text: source, from: undefined, to: undefined }
  const out = new Builder(source.length)
  let i = 0
  while (i < source.length) {
    const code = source.charCodeAt(i)
    if (code === PERCENT) {
      const next = decodePercent(source, i, out)
      if (next > i) {
        i = next
        continue
      }
    }
    if (code < 0x80) {
      out.emit(code, i, i + 1)
      i++
      continue
    }
    const cp = source.codePointAt(i)!
    const end = i + (cp > 0xffff ? 2 : 1)
    out.emitCodePoint(cp, i, end)
    i = end
  }
  return out.finish()
}

/** The span of the original that the normalized span `[start, end)` came from. */
export const originalSpan = (
  normalized: Normalized,
  start: number,
  end: number
): readonly [number, number] =>
  normalized.from === undefined || normalized.to === undefined
    ? [start, end]
    : [normalized.from[start]!, normalized.to[end - 1]!]

// Anything but printable ASCII (or NUL, which separates texts and stays as it is), a
// percent-encoded byte, or two separators in a row.
const needsWork = /[^\0\x20-\x7e]|%[0-9A-Fa-f]{2}|[ ./-]{2}/

const PERCENT = 0x25
const SPACE = 0x20

/** How a non-ASCII code point reads: dropped, a mark, or its normal form. */
type Reading =
  | { readonly kind: "drop" }
  | { readonly kind: "mark" }
  | { readonly kind: "text"; readonly text: string; readonly single: boolean }

const isFormat = /^\p{Cf}$/u
const isMark = /^\p{M}$/u
const isDigit = /^\p{Nd}$/u
const isDash = /^\p{Pd}$/u
const isSpace = /^\s$/u

// Caches: the readings of the basic multilingual plane in an array, the rest in a bounded map,
// so that text of many distinct code points cannot grow it without end.
const bmpReadings: Array<Reading | undefined> = []
const astralReadings = new Map<number, Reading>()
const ASTRAL_LIMIT = 1 << 16

const readingOf = (cp: number): Reading => {
  const cached = cp <= 0xffff ? bmpReadings[cp] : astralReadings.get(cp)
  if (cached !== undefined) return cached
  const reading = readCodePoint(cp)
  if (cp <= 0xffff) bmpReadings[cp] = reading
  else if (astralReadings.size < ASTRAL_LIMIT) astralReadings.set(cp, reading)
  return reading
}

const readCodePoint = (cp: number): Reading => {
  const char = String.fromCodePoint(cp)
  if (isFormat.test(char)) return { kind: "drop" }
  if (isMark.test(char)) return { kind: "mark" }
  let text = ""
  for (const c of char.normalize("NFKC")) {
    const p = c.codePointAt(0)!
    text += p >= 0x80 && isDigit.test(c) ? String(digitValue(p)) : c
  }
  return { kind: "text", text, single: text.length === 1 }
}

// Unicode assigns the decimal digits of a script as contiguous runs of ten, zero first, and
// several scripts' runs may follow one another; so a digit's value is its distance from the
// start of its run, modulo ten.
const digitValue = (cp: number): number => {
  let zero = cp
  while (zero > 0 && isDigit.test(String.fromCodePoint(zero - 1))) zero--
  return (cp - zero) % 10
}

/** The canonical separator a code unit stands for, or 0 when it is not a separator. */
const separatorOf = (code: number): number => {
  if (code === 0x2d || code === 0x2e || code === 0x2f) return code
  if (code === SPACE || (code >= 0x09 && code <= 0x0d)) return SPACE
  if (code < 0x80) return 0
  let separator = separators[code]!
  if (separator === UNKNOWN) {
    const char = String.fromCharCode(code)
    separator = isSpace.test(char) ? SPACE : isDash.test(char) || code === 0x2212 ? 0x2d : 0
    separators[code] = separator
  }
  return separator
}

const UNKNOWN = 0xffff
const separators = new Uint16Array(0x10000).fill(UNKNOWN)

const isAsciiDigit = (code: number) => code >= 0x30 && code <= 0x39
const isAsciiAlnum = (code: number) =>
  isAsciiDigit(code) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)

const hexValue = (code: number): number => {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  const lower = code | 0x20
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1
}

/** The byte of `%XX` at `i`, or -1. */
const percentByte = (source: string, i: number): number => {
  if (i + 2 >= source.length || source.charCodeAt(i) !== PERCENT) return -1
  const high = hexValue(source.charCodeAt(i + 1))
  const low = hexValue(source.charCodeAt(i + 2))
  return high < 0 || low < 0 ? -1 : high * 16 + low
}

/**
 * Decodes the percent-encoded bytes at `i` as UTF-8 into `out` and returns where they end; a
 * byte that does not start a valid sequence is left as it is written (the index `i` returned).
 */
const decodePercent = (source: string, i: number, out: Builder): number => {
  const lead = percentByte(source, i)
  if (lead < 0) return i
  const length =
    lead < 0x80
      ? 1
      : lead >= 0xc2 && lead <= 0xdf
        ? 2
        : lead >= 0xe0 && lead <= 0xef
          ? 3
          : lead >= 0xf0 && lead <= 0xf4
            ? 4
            : 0
  if (length === 0) return i
  let cp = length === 1 ? lead : length === 2 ? lead & 0x1f : length === 3 ? lead & 0x0f : lead & 0x07
  for (let k = 1; k < length; k++) {
    const byte = percentByte(source, i + 3 * k)
    if (byte < 0x80 || byte > 0xbf) return i
    cp = (cp << 6) | (byte & 0x3f)
  }
  const minimum = length === 1 ? 0 : length === 2 ? 0x80 : length === 3 ? 0x800 : 0x10000
  // Control characters stay as written: they are no part of any data, and NUL separates texts.
  if (cp < 0x20 || cp === 0x7f || cp < minimum || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i
  const end = i + 3 * length
  if (cp < 0x80) out.emit(cp, i, end)
  else out.emitCodePoint(cp, i, end)
  return end
}

const utf16 = new TextDecoder("utf-16le")

/** The normalized text as it is built, with its separator runs collapsed as they end. */
class Builder {
  private codes: Uint16Array
  private from: Int32Array
  private to: Int32Array
  private length = 0
  /** Where the current run of separators starts in the output, or -1 outside a run. */
  private runStart = -1

  constructor(capacity: number) {
    const size = Math.max(16, capacity)
    this.codes = new Uint16Array(size)
    this.from = new Int32Array(size)
    this.to = new Int32Array(size)
  }

  emitCodePoint(cp: number, from: number, to: number): void {
    const reading = readingOf(cp)
    if (reading.kind === "drop") return
    if (reading.kind === "mark") {
      // A mark on a digit changes nothing a reader takes the number to be.
      if (this.length > 0 && isAsciiDigit(this.codes[this.length - 1]!)) return
      this.emitText(String.fromCodePoint(cp), from, to)
      return
    }
    if (reading.single) this.emit(reading.text.charCodeAt(0), from, to)
    else this.emitText(reading.text, from, to)
  }

  emit(code: number, from: number, to: number): void {
    const separator = separatorOf(code)
    if (separator !== 0) {
      if (this.runStart < 0) this.runStart = this.length
    } else if (this.runStart >= 0) {
      this.closeRun(code)
    }
    this.push(code, from, to)
  }

  finish(): Normalized {
    if (this.runStart >= 0) this.closeRun(0)
    const text = utf16.decode(this.codes.subarray(0, this.length))
    return { text, from: this.from.subarray(0, this.length), to: this.to.subarray(0, this.length) }
  }

  private emitText(text: string, from: number, to: number): void {
    for (let k = 0; k < text.length; k++) this.emit(text.charCodeAt(k), from, to)
  }

  /** Ends the run of separators before `next`: one separator between parts of a number. */
  private closeRun(next: number): void {
    const start = this.runStart
    this.runStart = -1
    const before = start > 0 ? this.codes[start - 1]! : 0
    if (!(isAsciiAlnum(before) && isAsciiAlnum(next) && (isAsciiDigit(before) || isAsciiDigit(next)))) return
    let kind = SPACE
    let mixed = false
    for (let k = start; k < this.length; k++) {
      const separator = separatorOf(this.codes[k]!)
      if (separator === SPACE) continue
      if (kind === SPACE) kind = separator
      else if (kind !== separator) mixed = true
    }
    this.codes[start] = mixed ? SPACE : kind
    this.to[start] = this.to[this.length - 1]!
    this.length = start + 1
  }

  private push(code: number, from: number, to: number): void {
    if (this.length === this.codes.length) this.grow()
    this.codes[this.length] = code
    this.from[this.length] = from
    this.to[this.length] = to
    this.length++
  }

  private grow(): void {
    const size = this.codes.length * 2
    const codes = new Uint16Array(size)
    codes.set(this.codes)
    const from = new Int32Array(size)
    from.set(this.from)
    const to = new Int32Array(size)
    to.set(this.to)
    this.codes = codes
    this.from = from
    this.to = to
  }
}
