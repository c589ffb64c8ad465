/**
 * The published checks of the numbers `validator` does not know: the Russian taxpayer number
 * (INN) and insurance number (SNILS). Each takes the number's digits only.
 */

/**
 * A Russian taxpayer number: 10 digits (an organisation: one check digit) or 12 (a person: two),
 * each check digit the weighted sum of the digits before it, modulo 11, modulo 10.
 */
export const isInn = (digits: string): boolean => {
  if (!/^(?:[0-9]{10}|[0-9]{12})$/.test(digits) || digits.startsWith("00")) return false
  const d = Array.from(digits, Number)
  if (d.length === 10) return checkDigit(d, INN_10) === d[9]
  return checkDigit(d, INN_11) === d[10] && checkDigit(d, INN_12) === d[11]
}

/**
 * A Russian insurance number: 9 digits and a 2-digit check, the sum of the digits weighted 9
 * down to 1, modulo 101, where 100 counts as 00. Numbers up to 001-001-998 were issued before
 * the check existed and cannot be confirmed, so they are not taken.
 */
export const isSnils = (digits: string): boolean => {
  if (!/^[0-9]{11}$/.test(digits) || digits.slice(0, 9) <= "001001998") return false
  let sum = 0
  for (let k = 0; k < 9; k++) sum += Number(digits[k]) * (9 - k)
  const check = sum % 101
  return (check === 100 ? 0 : check) === Number(digits.slice(9))
}

const INN_10 = [2, 4, 10, 3, 5, 9, 4, 6, 8]
const INN_11 = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8]
const INN_12 = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]

const checkDigit = (digits: ReadonlyArray<number>, weights: ReadonlyArray<number>): number =>
  (weights.reduce((sum, weight, k) => sum + weight * digits[k]!, 0) % 11) % 10
