import { Schema } from "effect"

/** The kinds of personal data that can taint a session. */
export const PIIType = Schema.Literal(
  "EMAIL",
  "PHONE",
  "CREDIT_CARD",
  "SSN",
  "IBAN",
  "IP_ADDRESS",
  "PASSPORT",
  "DATE_OF_BIRTH",
  "CUSTOM"
)

/** One kind of personal data, e.g. `"EMAIL"`. */
export type PIIType = typeof PIIType.Type

/** Every PII type, in declaration order. */
export const allPIITypes: ReadonlyArray<PIIType> = PIIType.literals
