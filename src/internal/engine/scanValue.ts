/**
 * Every text in a value, for PII scanning: strings, object keys and numbers (as their decimal
 * text), nested objects, arrays, maps and sets included, whole. Bytes (a Buffer, a typed
 * array) are read as UTF-8 text, boxed strings as their string, and an object with `toJSON`
 * also as what it serialises to (a URL as its address). The walk uses its own stack, so deep
 * nesting cannot overflow the call stack, and skips values it has already seen, so a cyclic
 * object cannot loop. When in doubt it reads more, never less.
 */
const utf8 = new TextDecoder("utf-8")

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
      if (ArrayBuffer.isView(item)) {
        texts.push(utf8.decode(new Uint8Array(item.buffer, item.byteOffset, item.byteLength)))
      } else if (item instanceof ArrayBuffer) {
        texts.push(utf8.decode(new Uint8Array(item)))
      } else if (item instanceof String || item instanceof Number) {
        texts.push(String(item.valueOf()))
      } else if (Array.isArray(item)) {
        for (let i = item.length - 1; i >= 0; i--) stack.push(item[i])
      } else if (item instanceof Map) {
        for (const [k, v] of item) stack.push(v, k)
      } else if (item instanceof Set) {
        for (const v of item) stack.push(v)
      } else {
        for (const [k, v] of Object.entries(item)) stack.push(v, k)
        const toJSON = (item as { readonly toJSON?: unknown }).toJSON
        if (typeof toJSON === "function") {
          try {
            stack.push(toJSON.call(item))
          } catch {
            // What cannot be serialised is read through its own properties, above.
          }
        }
      }
    }
  }
  return texts
}
