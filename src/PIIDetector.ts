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
 * checked, with or without spaces) and IP_ADDRESS (v4 and v6). Formats and checksums are
 * confirmed with the `validator` package; the patterns that find candidates are linear in the
 * length of the text, so no input can stall a check.
 */
export class PIIDetector extends Context.Tag("policyshield/PIIDetector")<PIIDetector, PIIDetectorService>() {
  /** The detector of the built-in kinds of personal data. */
  static readonly Default: Layer.Layer<PIIDetector> = Layer.succeed(PIIDetector, {
    scan: (text) => Recognizers.scan(text).map((found) => new PIIMatch(found, true))
  })
}
