/**
 * A set of fixed-width integer keys in typed arrays, with open addressing: the model checker's visited set, its
 * hash-consing tables and its memo tables.
 *
 * Contract:
 * - Keys are `width` 32-bit words. {@link Table.intern} returns the key's index (its insertion number, from 0)
 *   and sets {@link Table.added} when the key was new. Indices never change; keys are never removed.
 * - Layout: each bucket holds the key's index + 1 and a copy of the key, so a probe reads one place in memory
 *   (one cache miss for a large table); the keys are also kept in insertion order in {@link Table.keys}, for
 *   reading a key back by its index. The bucket array stays at most half full; both arrays grow by doubling.
 *   {@link Table.bytes} reports what is allocated.
 * - Exact: keys are compared word by word, so no two keys are ever confused (nothing is lost to hashing).
 * - {@link Compact} is the hash-compacted alternative for a visited set, as SPIN's hash compaction: each key is
 *   stored as a 64-bit signature only (8 bytes a bucket); two keys with the same signature are confused, so a state
 *   may be omitted, with the probability {@link omission} gives. It keeps the keys in insertion order (the search's
 *   queue) but no copy of them in its buckets.
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
  /** Buckets of `width + 1` words: 0 when empty, else the key's index + 1, then the key. */
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
    this.buckets = new Int32Array(count * (width + 1))
    this.mask = count - 1
  }

  /** Finds `key` (its first `width` words), inserting it when absent; returns its index. */
  intern(key: Int32Array): number {
    const width = this.width
    const stride = width + 1
    const buckets = this.buckets
    const first = key[0]!
    let bucket = hash(key, 0, width) & this.mask
    for (;;) {
      const at = bucket * stride
      const slot = buckets[at]!
      if (slot === 0) break
      if (buckets[at + 1] === first && this.rest(at, key)) {
        this.added = false
        return slot - 1
      }
      bucket = (bucket + 1) & this.mask
    }
    const index = this.size++
    this.store(key, index, bucket)
    if (this.size * 2 > this.mask + 1) this.rehash()
    this.added = true
    return index
  }

  /** The words after the first of the key in the bucket at `at` equal those of `key`. */
  private rest(at: number, key: Int32Array): boolean {
    const buckets = this.buckets
    for (let i = 1; i < this.width; i++) if (buckets[at + 1 + i] !== key[i]) return false
    return true
  }

  /** Allocated bytes: keys and buckets. */
  bytes(): number {
    return this.keys.byteLength + this.buckets.byteLength
  }

  private store(key: Int32Array, index: number, bucket: number): void {
    const width = this.width
    if ((index + 1) * width > this.keys.length) this.growKeys()
    const keys = this.keys
    const base = index * width
    const at = bucket * (width + 1)
    this.buckets[at] = index + 1
    for (let i = 0; i < width; i++) {
      keys[base + i] = key[i]!
      this.buckets[at + 1 + i] = key[i]!
    }
  }

  private growKeys(): void {
    const next = new Int32Array(this.keys.length * 2)
    next.set(this.keys)
    this.keys = next
  }

  /** Doubles the buckets and puts every key back from the insertion-order copy. */
  private rehash(): void {
    const width = this.width
    const stride = width + 1
    const count = (this.mask + 1) * 2
    const buckets = new Int32Array(count * stride)
    const mask = count - 1
    const keys = this.keys
    for (let index = 0; index < this.size; index++) {
      let bucket = hash(keys, index * width, width) & mask
      while (buckets[bucket * stride] !== 0) bucket = (bucket + 1) & mask
      const at = bucket * stride
      buckets[at] = index + 1
      for (let i = 0; i < width; i++) buckets[at + 1 + i] = keys[index * width + i]!
    }
    this.buckets = buckets
    this.mask = mask
  }
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
    const a = hash(key, 0, this.width)
    const b = hash2(key, this.width) | 1 // never 0: a bucket with a zero second word is empty
    if (!this.insert(a, b)) {
      this.added = false
      return -1
    }
    const index = this.size++
    if ((index + 1) * this.width > this.keys.length) {
      const next = new Int32Array(this.keys.length * 2)
      next.set(this.keys)
      this.keys = next
    }
    this.keys.set(key.subarray(0, this.width), index * this.width)
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
  return (h ^ (h >>> 16)) >>> 0
}
