import { Context, Layer, Schema } from "effect"
import * as Recognizers from "./internal/engine/recognizers.js"
import { PIIType } from "./PIIType.js"

/** One occurrence of personal data in a text: its kind and its span `[start, end)`. */
export class PIIMatch extends Schema.Class<PIIMatch>("PIIMatch")({
  type: PIIType,
  start: Schema.NonNegativeInt,
  end: Schema.NonNegativeInt
}) {}

/** The detector's operations. */
export interface PIIDetectorService {
  /** Every occurrence of personal data in `text`, in order of position. The whole text is read. */
  readonly scan: (text: string) => ReadonlyArray<PIIMatch>
}

/**
 * Finds personal data in text: EMAIL, PHONE, CREDIT_CARD (Luhn-checked), SSN, IBAN (mod-97
 * checked), IP_ADDRESS (v4 and v6), RU_PHONE (also reported as PHONE), SNILS and INN (with
 * their check digits), RU_PASSPORT, PASSPORT and DATE_OF_BIRTH. The text is normalized first
 * (digits of any script, full-width forms, invisible characters, percent-encoding, runs of
 * separators inside numbers), and spans are reported in the original text. INN, SNILS as bare
 * digits, PASSPORT and DATE_OF_BIRTH are found only shortly after a word that names them
 * ("ИНН", "passport", "date of birth"...). Formats and checksums are confirmed with the
 * `validator` package where it has them; everything is linear in the length of the text, so no
 * input can stall a check.
 */
export class PIIDetector extends Context.Tag("policyshield/PIIDetector")<PIIDetector, PIIDetectorService>() {
  /** The detector of the built-in kinds of personal data. */
  static readonly Default: Layer.Layer<PIIDetector> = Layer.succeed(PIIDetector, {
    scan: (text) => Recognizers.scan(text).map((found) => new PIIMatch(found, true))
  })
}
