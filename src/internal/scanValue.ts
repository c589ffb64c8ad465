/**
 * Every text in a JSON-like value, for PII scanning: strings, object keys and numbers (as
 * their decimal text), nested objects and arrays included, whole. The walk uses its own stack,
 * so deep nesting cannot overflow the call stack, and skips values it has already seen, so a
 * cyclic object cannot loop.
 */
export const textsOf = (value: unknown): Array<string> => {
  const texts: Array<string> = []
  const seen = new Set<object>()
  const stack: Array<unknown> = [value]
  while (stack.length > 0) {
    const item = stack.pop()
    if (typeof item === "string") texts.push(item)
    else if (typeof item === "number" || typeof item === "bigint") texts.push(String(item))
    else if (typeof item === "object" && item !== null && !seen.has(item)) {
      seen.add(item)
      if (Array.isArray(item)) {
        for (let i = item.length - 1; i >= 0; i--) stack.push(item[i])
      } else if (item instanceof Map) {
        for (const [k, v] of item) stack.push(v, k)
      } else if (item instanceof Set) {
        for (const v of item) stack.push(v)
      } else {
        for (const [k, v] of Object.entries(item)) stack.push(v, k)
      }
    }
  }
  return texts
}
