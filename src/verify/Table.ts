/**
 * A set of fixed-width integer keys in typed arrays, with open addressing: the model checker's visited set, its
 * hash-consing tables and its memo tables.
 *
 * Contract:
 * - Keys are `width` 32-bit words. {@link Table.intern} returns the key's index (its insertion number, from 0)
 *   and sets {@link Table.added} when the key was new. Indices never change; keys are never removed.
 * - Layout: the keys are kept once, in insertion order, in {@link Table.keys} (the search's queue, and how a key is
 *   read back by its index); each bucket is two words, the key's 32-bit hash (never 0: 0 marks an empty bucket)
 *   and its index. A probe compares hashes in the buckets and reads a key only when its hash matches; growing
 *   moves the buckets without hashing a key again. The buckets stay at most half full; both arrays grow by
 *   doubling. {@link Table.bytes} reports what is allocated.
 * - {@link States} is the same set for keys of exactly 4 words (the checker's packed states), with the hash and
 *   the comparison unrolled: the visited set of an exact search; {@link Pairs}, for keys of 2 words given as
 *   numbers: the memo of session steps.
 * - Exact: keys are compared word by word, so no two keys are ever confused (nothing is lost to hashing).
 * - {@link Compact} is the hash-compacted alternative for a visited set, as SPIN's hash compaction: each key is
 *   stored as a 64-bit signature only (8 bytes a bucket); two keys with the same signature are confused, so a state
 *   may be omitted, with the probability {@link omission} gives. It keeps the keys in insertion order (the search's
 *   queue) but no copy of them in its buckets.
 * - Nothing is allocated per call, except when an array doubles.
 *
 * @since 0.1.0
 */
/**
 * An insert-only set of fixed-width keys.
 *
 * @since 0.1.0
 * @category models
 */
export class Table {
  readonly width: number
  /** The words of every key in insertion order, key `i` at `[i·width, (i+1)·width)`. */
  keys: Int32Array
  /** Buckets of two words: the key's hash (0 when empty), then its index. */
  private buckets: Int32Array
  private mask: number
  /** How many keys. */
  size = 0
  /** Whether the last {@link intern} added its key. */
  added = false

  constructor(width: number, capacity = 1024) {
    this.width = width
    const count = bucketsFor(capacity)
    this.keys = new Int32Array(Math.max(capacity, 16) * width)
    this.buckets = new Int32Array(count * 2)
    this.mask = count - 1
  }

  /** Finds `key` (its first `width` words), inserting it when absent; returns its index. */
  intern(key: Int32Array): number {
    const h = hash(key, 0, this.width) || 1
    const buckets = this.buckets
    const mask = this.mask
    let bucket = h & mask
    for (;;) {
      const tag = buckets[2 * bucket]!
      if (tag === 0) break
      if (tag === h && this.same(buckets[2 * bucket + 1]!, key)) {
        this.added = false
        return buckets[2 * bucket + 1]!
      }
      bucket = (bucket + 1) & mask
    }
    const index = this.size++
    buckets[2 * bucket] = h
    buckets[2 * bucket + 1] = index
    this.keys = place(this.keys, key, index, this.width)
    if (this.size * 2 > mask + 1) this.grow()
    this.added = true
    return index
  }

  /** Key `index` equals the first `width` words of `key`. */
  private same(index: number, key: Int32Array): boolean {
    const keys = this.keys
    const width = this.width
    const base = index * width
    for (let i = 0; i < width; i++) if (keys[base + i] !== key[i]) return false
    return true
  }

  /** Allocated bytes: keys and buckets. */
  bytes(): number {
    return this.keys.byteLength + this.buckets.byteLength
  }

  private grow(): void {
    this.buckets = rehash(this.buckets, this.mask)
    this.mask = this.mask * 2 + 1
  }
}

/**
 * The exact visited set of 4-word keys: {@link Table}'s layout with the hash and the comparison unrolled.
 * {@link States.intern} returns the key's index when it was new, -1 when it was already there.
 *
 * @since 0.2.0
 * @category models
 */
export class States {
  readonly width = 4
  /** The words of every key in insertion order, key `i` at `[4i, 4i + 4)`. */
  keys: Int32Array
  private buckets: Int32Array
  private mask: number
  /** How many keys. */
  size = 0
  /** Whether the last {@link intern} added its key. */
  added = false

  constructor(capacity = 1024) {
    const count = bucketsFor(capacity)
    this.keys = new Int32Array(Math.max(capacity, 16) * 4)
    this.buckets = new Int32Array(count * 2)
    this.mask = count - 1
  }

  /** Adds `key` (its first 4 words) when absent, returning its index; -1 when it was there. */
  intern(key: Int32Array): number {
    const a = key[0]!
    const b = key[1]!
    const c = key[2]!
    const d = key[3]!
    const h = hash4(a, b, c, d) || 1
    const buckets = this.buckets
    const keys = this.keys
    const mask = this.mask
    let bucket = h & mask
    for (;;) {
      const tag = buckets[2 * bucket]!
      if (tag === 0) break
      if (tag === h) {
        const at = 4 * buckets[2 * bucket + 1]!
        if (keys[at] === a && keys[at + 1] === b && keys[at + 2] === c && keys[at + 3] === d) {
          this.added = false
          return -1
        }
      }
      bucket = (bucket + 1) & mask
    }
    const index = this.size++
    buckets[2 * bucket] = h
    buckets[2 * bucket + 1] = index
    this.keys = place(keys, key, index, 4)
    if (this.size * 2 > mask + 1) {
      this.buckets = rehash(buckets, mask)
      this.mask = mask * 2 + 1
    }
    this.added = true
    return index
  }

  /** Allocated bytes: keys and buckets. */
  bytes(): number {
    return this.keys.byteLength + this.buckets.byteLength
  }
}

/**
 * {@link Table}'s layout for keys of exactly 2 words, passed as numbers (no key array to fill): the model's memo of
 * session steps. {@link Pairs.intern} returns the pair's index and sets {@link Pairs.added} when it was new.
 *
 * @since 0.2.0
 * @category models
 */
export class Pairs {
  readonly width = 2
  /** The words of every pair in insertion order, pair `i` at `[2i, 2i + 2)`. */
  keys: Int32Array
  private buckets: Int32Array
  private mask: number
  /** How many pairs. */
  size = 0
  /** Whether the last {@link intern} added its pair. */
  added = false

  constructor(capacity = 1024) {
    const count = bucketsFor(capacity)
    this.keys = new Int32Array(Math.max(capacity, 16) * 2)
    this.buckets = new Int32Array(count * 2)
    this.mask = count - 1
  }

  /** Finds the pair (a, b), inserting it when absent; returns its index. */
  intern(a: number, b: number): number {
    const h = hash4(a, b, 0, 0) || 1
    const buckets = this.buckets
    const mask = this.mask
    let bucket = h & mask
    for (;;) {
      const tag = buckets[2 * bucket]!
      if (tag === 0) break
      const index = buckets[2 * bucket + 1]!
      if (tag === h && this.keys[2 * index] === a && this.keys[2 * index + 1] === b) {
        this.added = false
        return index
      }
      bucket = (bucket + 1) & mask
    }
    const index = this.size++
    buckets[2 * bucket] = h
    buckets[2 * bucket + 1] = index
    if (2 * index + 2 > this.keys.length) {
      const keys = new Int32Array(this.keys.length * 2)
      keys.set(this.keys)
      this.keys = keys
    }
    this.keys[2 * index] = a
    this.keys[2 * index + 1] = b
    if (this.size * 2 > mask + 1) {
      this.buckets = rehash(buckets, mask)
      this.mask = mask * 2 + 1
    }
    this.added = true
    return index
  }

  /** Allocated bytes: pairs and buckets. */
  bytes(): number {
    return this.keys.byteLength + this.buckets.byteLength
  }
}

/** Writes key `index` into `keys` (doubled first when full) and returns the array. */
const place = (keys: Int32Array, key: Int32Array, index: number, width: number): Int32Array => {
  let out = keys
  if ((index + 1) * width > out.length) {
    out = new Int32Array(out.length * 2)
    out.set(keys)
  }
  const base = index * width
  for (let i = 0; i < width; i++) out[base + i] = key[i]!
  return out
}

/** Twice the buckets of (hash, index) pairs, each moved by its stored hash: no key is read or hashed again. */
const rehash = (old: Int32Array, mask: number): Int32Array => {
  const next = mask * 2 + 1
  const buckets = new Int32Array((next + 1) * 2)
  for (let at = 0; at < old.length; at += 2) {
    const tag = old[at]!
    if (tag === 0) continue
    let bucket = tag & next
    while (buckets[2 * bucket] !== 0) bucket = (bucket + 1) & next
    buckets[2 * bucket] = tag
    buckets[2 * bucket + 1] = old[at + 1]!
  }
  return buckets
}

/**
 * A visited set of 64-bit signatures (hash compaction): {@link Compact.intern} returns the index of a key whose
 * signature is new, or -1 when its signature was seen (then the key is taken as visited).
 *
 * @since 0.1.0
 * @category models
 */
export class Compact {
  readonly width: number
  /** The words of every key whose signature was new, in insertion order. */
  keys: Int32Array
  private buckets: Int32Array
  private mask: number
  size = 0
  added = false

  constructor(width: number, capacity = 1024) {
    this.width = width
    this.keys = new Int32Array(Math.max(capacity, 16) * width)
    this.mask = bucketsFor(capacity) - 1
    this.buckets = new Int32Array((this.mask + 1) * 2)
  }

  /** Adds the key's signature when new (returning the key's index), else returns -1. */
  intern(key: Int32Array): number {
    const four = this.width === 4
    const a = four ? hash4(key[0]!, key[1]!, key[2]!, key[3]!) : hash(key, 0, this.width)
    // never 0: a bucket with a zero second word is empty
    const b = (four ? hash4b(key[0]!, key[1]!, key[2]!, key[3]!) : hash2(key, this.width)) | 1
    if (!this.insert(a, b)) {
      this.added = false
      return -1
    }
    const index = this.size++
    this.keys = place(this.keys, key, index, this.width)
    if (this.size * 2 > this.mask + 1) this.rehash()
    this.added = true
    return index
  }

  private insert(a: number, b: number): boolean {
    const buckets = this.buckets
    let bucket = a & this.mask
    for (;;) {
      const at = bucket * 2
      if (buckets[at + 1] === 0) {
        buckets[at] = a
        buckets[at + 1] = b
        return true
      }
      if (buckets[at] === (a | 0) && buckets[at + 1] === b) return false
      bucket = (bucket + 1) & this.mask
    }
  }

  private rehash(): void {
    const old = this.buckets
    this.buckets = new Int32Array(old.length * 2)
    this.mask = this.mask * 2 + 1
    for (let at = 0; at < old.length; at += 2) if (old[at + 1] !== 0) this.insert(old[at]! >>> 0, old[at + 1]!)
  }

  /** Allocated bytes: keys and signatures. */
  bytes(): number {
    return this.keys.byteLength + this.buckets.byteLength
  }
}

/**
 * The probability that a hash-compacted search of `states` states omitted at least one (two states shared a 64-bit
 * signature, 63 bits of which are free): at most states·(states − 1)/2 / 2^63, as SPIN bounds it for hash
 * compaction.
 *
 * @since 0.1.0
 * @category models
 */
export const omission = (states: number): number => Math.min(1, (states * (states - 1)) / 2 / 2 ** 63)

/** Buckets for `capacity` keys at most half full: a power of two, at least 16. */
const bucketsFor = (capacity: number): number => 1 << Math.max(4, Math.ceil(Math.log2(capacity * 2)))

/** A second, independent mix of the key (other constants), for the signature's second word. */
const hash2 = (words: Int32Array, width: number): number => {
  let h = 0x9747b28c
  for (let i = 0; i < width; i++) {
    h = Math.imul(h ^ words[i]!, 0xcc9e2d51)
    h = (h << 13) | (h >>> 19)
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  return h ^ (h >>> 13)
}

/** Mixes `width` words of `words` from `offset` (a multiply-xorshift step per word, then a finaliser). */
const hash = (words: Int32Array, offset: number, width: number): number => {
  let h = 0x811c9dc5
  for (let i = offset; i < offset + width; i++) {
    h = Math.imul(h ^ words[i]!, 0x5bd1e995)
    h ^= h >>> 15
  }
  h = Math.imul(h ^ (h >>> 15), 0x27d4eb2d)
  return h ^ (h >>> 16)
}

/** A second, independent mix of four words (other constants): the second word of {@link Compact}'s signatures. */
const hash4b = (a: number, b: number, c: number, d: number): number => {
  let h = Math.imul(a, 0x85ebca6b) ^ Math.imul(b, 0xc2b2ae35) ^ Math.imul(c, 0x27d4eb2d) ^ Math.imul(d, 0x165667b1)
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d)
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b)
  return h ^ (h >>> 16)
}

/** Four words mixed independently (no chain of multiplications), then finalised: {@link States}' hash. */
const hash4 = (a: number, b: number, c: number, d: number): number => {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca77) ^ Math.imul(c, 0xc2b2ae3d) ^ Math.imul(d, 0x27d4eb2f)
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d)
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39)
  return h ^ (h >>> 15)
}
