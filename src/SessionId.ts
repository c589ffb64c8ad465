import { Schema } from "effect"

// Unicode category Cc: C0 controls, DEL and C1 controls.
const controlCharacter = /\p{Cc}/u

/**
 * The id of one conversation, such as `telegram:12345`: 1 to 256 UTF-16 code units with no
 * control characters, compared exactly (never trimmed or normalised).
 */
export const SessionId = Schema.String.pipe(
  Schema.minLength(1, { message: () => "a session id must not be empty" }),
  Schema.maxLength(256, { message: () => "a session id must be at most 256 UTF-16 code units long" }),
  Schema.filter((s) => !controlCharacter.test(s), {
    message: () => "a session id must not contain control characters"
  }),
  Schema.brand("SessionId")
)

/** A validated session id. */
export type SessionId = typeof SessionId.Type
