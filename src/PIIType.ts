import { Schema } from "effect"

/**
 * The kinds of personal data that can taint a session. New kinds may only be appended: a
 * session's taints are stored as bits by position in this list (in memory and in Redis), so
 * reordering or removing a kind would change the meaning of taints already recorded.
 */
export const PIIType = Schema.Literal(
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
)

/** One kind of personal data, e.g. `"EMAIL"`. */
export type PIIType = typeof PIIType.Type

/** Every PII type, in declaration order. */
export const allPIITypes: ReadonlyArray<PIIType> = PIIType.literals
