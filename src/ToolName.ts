import { Schema } from "effect"

const toolNamePattern = /^[A-Za-z0-9_\-.:/]{1,128}$/

/**
 * The name of a tool an agent calls, such as `web_fetch` or `mcp:github/create_issue`: 1 to
 * 128 ASCII letters, digits and `_ - . : /`.
 */
export const ToolName = Schema.String.pipe(
  Schema.filter((s) => toolNamePattern.test(s), {
    message: () => "a tool name must be 1 to 128 characters of ASCII letters, digits and _ - . : /"
  }),
  Schema.brand("ToolName")
)

/** A validated tool name. */
export type ToolName = typeof ToolName.Type
