import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, ParseResult, Schema } from "effect"
import { allPIITypes, PIIType, SessionId, ToolName } from "../src/index.js"

describe("SessionId", () => {
  it("accepts 1 to 256 UTF-16 code units without control characters", () => {
    for (const s of [
      "a",
      "telegram:12345",
      " padded ",
      "x".repeat(256),
      "😀".repeat(128),
      "__proto__",
      "e\u0301"
    ]) {
      expect(SessionId.make(s)).toBe(s)
    }
  })

  it("rejects empty, overlong and control-character ids", () => {
    for (const s of [
      "",
      "x".repeat(257),
      "😀".repeat(129),
      "a\nb",
      "a\u0000",
      "tab\t",
      "del\u007f",
      "c1\u0085"
    ]) {
      expect(() => SessionId.make(s)).toThrow()
      expect(Either.isLeft(Schema.decodeUnknownEither(SessionId)(s))).toBe(true)
    }
  })

  it.effect("decoding a non-string fails with a ParseError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Schema.decodeUnknown(SessionId)(42))
      expect(ParseResult.isParseError(error)).toBe(true)
    })
  )

  it("keeps the id exactly as given", () => {
    expect(SessionId.make(" s1 ")).toBe(" s1 ")
    expect(SessionId.make("e\u0301")).not.toBe(SessionId.make("\u00e9"))
  })
})

describe("ToolName", () => {
  it("accepts ASCII letters, digits and _ - . : / up to 128 characters", () => {
    for (const s of [
      "exec",
      "web_fetch",
      "mcp:github/create-issue.v2",
      "x".repeat(128),
      "__proto__",
      "constructor"
    ]) {
      expect(ToolName.make(s)).toBe(s)
    }
  })

  it("rejects anything else", () => {
    for (const s of ["", "x".repeat(129), "web fetch", "tool!", "naïve", "a\nb", "日本"]) {
      expect(() => ToolName.make(s)).toThrow()
      expect(Either.isLeft(Schema.decodeUnknownEither(ToolName)(s))).toBe(true)
    }
  })
})

describe("PIIType", () => {
  // Taints are stored as bits by position: kinds are only ever appended.
  it("is exactly the thirteen kinds of personal data, in their stored order", () => {
    expect(allPIITypes).toEqual([
      "EMAIL",
      "PHONE",
      "CREDIT_CARD",
      "SSN",
      "IBAN",
      "IP_ADDRESS",
      "PASSPORT",
      "DATE_OF_BIRTH",
      "CUSTOM",
      "INN",
      "SNILS",
      "RU_PASSPORT",
      "RU_PHONE"
    ])
    expect(Schema.is(PIIType)("EMAIL")).toBe(true)
    expect(Schema.is(PIIType)("email")).toBe(false)
  })
})
