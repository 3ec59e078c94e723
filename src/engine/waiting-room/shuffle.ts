/**
 * The place at the opening of the `index`th (0-based) of `size` buyers who joined before it: a
 * permutation of 0..size-1 drawn from the show's 32-byte seed. A balanced Feistel network on the
 * smallest even number of bits that covers `size`, walked again while it lands outside (cycle
 * walking), is a bijection on 0..size-1: everyone gets a place, no two the same, and nothing is
 * stored per buyer. The rounds mix with a 32-bit integer hash keyed by the seed: the order must
 * look random and be fixed, not resist cryptanalysis (the seed never leaves the database).
 */
export function shuffledPlace (seed: Uint8Array, size: number, index: number): number {
  if (!Number.isSafeInteger(size) || size > 2 ** 32 || index < 0 || index >= size) throw new RangeError(`no place ${index} among ${size}`)
  if (size === 1) return 0
  let bits = Math.ceil(Math.log2(size))
  if (bits % 2 === 1) bits++
  const half = bits / 2
  const mask = (2 ** half) - 1
  const keys = roundKeys(seed)
  let place = index
  do place = feistel(place, half, mask, keys)
  while (place >= size)
  return place
}

function roundKeys (seed: Uint8Array): number[] {
  const view = new DataView(seed.buffer, seed.byteOffset, seed.byteLength)
  return Array.from({ length: seed.byteLength / 4 }, (_, i) => view.getUint32(i * 4))
}

/** A 32-bit integer hash (lowbias32), keyed by xor. */
function mix (value: number, key: number): number {
  let x = (value ^ key) >>> 0
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d)
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b)
  return (x ^ (x >>> 16)) >>> 0
}

function feistel (value: number, half: number, mask: number, keys: number[]): number {
  let left = Math.floor(value / 2 ** half)
  let right = value % 2 ** half
  for (const key of keys) {
    const next = (left ^ (mix(right, key) & mask)) >>> 0
    left = right
    right = next
  }
  return left * 2 ** half + right
}
