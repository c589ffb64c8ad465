import { describe, expect, it } from "@effect/vitest"
import { isInn, isSnils } from "../src/internal/engine/checksums.js"
import { normalize, originalSpan } from "../src/internal/engine/normalize.js"

describe("checksums", () => {
  it("accepts published taxpayer numbers (INN) and rejects any changed check digit", () => {
    // Organisations' numbers from their public registrations, and a person's from the tax
    // service's examples.
    const valid = ["7707083893", "7736050003", "7736207543", "7708004767", "500100732259"]
    for (const inn of valid) {
      expect(isInn(inn), inn).toBe(true)
      for (let d = 0; d <= 9; d++) {
        const changed = `${inn.slice(0, -1)}${d}`
        if (changed !== inn) expect(isInn(changed), changed).toBe(false)
      }
    }
    for (const bad of ["770708389", "77070838930", "0000000000", "abcdefghij", "500100732249"]) {
      expect(isInn(bad), bad).toBe(false)
    }
  })

  it("accepts insurance numbers (SNILS) whose check is the weighted sum modulo 101", () => {
    // 1*9 + 1*8 + 2*7 + 2*6 + 3*5 + 3*4 + 4*3 + 4*2 + 5*1 = 95; 123456789: 165 % 101 = 64.
    for (const snils of ["11223344595", "12345678964"]) {
      expect(isSnils(snils), snils).toBe(true)
      expect(isSnils(`${snils.slice(0, -1)}${(Number(snils.at(-1)) + 1) % 10}`), snils).toBe(false)
    }
    // Numbers issued before the check existed cannot be confirmed.
    expect(isSnils("00100199800")).toBe(false)
    expect(isSnils("1122334459")).toBe(false)
  })
})

describe("normalize", () => {
  const normalized = (text: string) => normalize(text).text

  it("reads other scripts' digits, full-width forms and percent-encoding as a reader would", () => {
    expect(normalized("٤١١١ ४५६७ ４＠")).toBe("4111 4567 4@")
    expect(normalized("a%40b%2Ec%C3%A4 %ZZ %E2 100%")).toBe("a@b.cä %ZZ %E2 100%")
    // Control characters stay encoded: NUL separates texts.
    expect(normalized("%00%0A")).toBe("%00%0A")
    expect(normalized("a\u200bb\u00adc\u200ed\ufeffe")).toBe("abcde")
    expect(normalized("4\ufe0f\u20e3")).toBe("4")
  })

  it("makes a run of separators inside a number one separator, and leaves other text alone", () => {
    expect(normalized("4111 \t 1111\n1111\u00a01111")).toBe("4111 1111 1111 1111")
    expect(normalized("1 - 2 . 3 / 4 -/ 5")).toBe("1-2.3/4 5")
    expect(normalized("gb82 - west")).toBe("gb82-west")
    expect(normalized("hello   world -- ok")).toBe("hello   world -- ok")
  })

  it("maps every span back to the original text it came from", () => {
    const text = "x ４１\u200b１１  1%40y"
    const n = normalize(text)
    expect(n.text).toBe("x 4111 1@y")
    const span = (start: number, end: number) => {
      const [from, to] = originalSpan(n, start, end)
      return text.slice(from, to)
    }
    expect(span(2, 6)).toBe("４１\u200b１１")
    expect(span(6, 7)).toBe("  ")
    expect(span(8, 9)).toBe("%40")
    expect(span(0, n.text.length)).toBe(text)
    expect(originalSpan(n, 0, n.text.length)).toEqual([0, text.length])
  })
})
