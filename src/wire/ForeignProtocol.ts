/**
 * Recognizing a peer that speaks something other than libvirt's protocol, from the first bytes of its stream.
 *
 * Contract:
 * - {@link recognize} looks at the first bytes a peer sent and names what they are when they plainly are not a
 *   libvirt frame: an SSH banner (`SSH-2.0-…`), an HTTP request (`GET / HTTP/1.1`) or response (`HTTP/1.1 400 …`),
 *   a TLS record (a ClientHello, or an alert sent back to plain bytes), a text banner as SMTP, FTP, POP3 or IMAP
 *   servers send (`220 …`, `+OK`, `* OK`), or other text. Anything else gives `undefined`.
 * - It never names a libvirt stream: a libvirt frame starts with its length word, at most 4 + 32 MiB, so its first
 *   byte is 0, 1 or 2; every start recognized here begins with a byte of at least 0x14. A stream that began with a
 *   valid frame is therefore never mistaken, whatever broke it later.
 * - {@link keep} gathers the first {@link HEAD_BYTES} bytes of a stream, chunk by chunk, for {@link recognize}.
 * - {@link describe} says it in words, quoting the first line (printable ASCII, at most 80 characters) or, for
 *   TLS, the first bytes in hex.
 *
 * Pure: no I/O, no exceptions.
 *
 * @since 0.2.0
 */

/**
 * What the peer sent instead of a libvirt frame.
 *
 * @since 0.2.0
 * @category models
 */
export interface Foreign {
  readonly protocol: "ssh" | "http" | "tls" | "text"
  /** In words: "an SSH banner", "an HTTP request", "a TLS alert", "a text banner", … */
  readonly what: string
  /** The first line as sent (printable ASCII, at most 80 characters), or for TLS the first bytes in hex. */
  readonly sample: string
}

/**
 * How many of a stream's first bytes {@link keep} holds for {@link recognize}.
 *
 * @since 0.2.0
 * @category constants
 */
export const HEAD_BYTES = 128

const EMPTY = new Uint8Array(0)

/**
 * The first {@link HEAD_BYTES} bytes of a stream so far, given the next chunk; the same array once it is full
 * (the chunk is copied, never kept).
 *
 * @since 0.2.0
 * @category constructors
 */
export const keep = (head: Uint8Array = EMPTY, chunk: Uint8Array): Uint8Array => {
  if (head.length >= HEAD_BYTES || chunk.length === 0) return head
  const next = new Uint8Array(Math.min(HEAD_BYTES, head.length + chunk.length))
  next.set(head)
  next.set(chunk.subarray(0, next.length - head.length), head.length)
  return next
}

const SAMPLE_CHARS = 80

/** The first line of printable text, or undefined when the first bytes are not text. */
const firstLine = (bytes: Uint8Array): string | undefined => {
  let line = ""
  for (const b of bytes) {
    if (b === 0x0d || b === 0x0a) break
    if (b < 0x20 || b > 0x7e) {
      if (b !== 0x09) return undefined
    }
    line += String.fromCharCode(b)
  }
  return line.length === 0 ? undefined : line.length > SAMPLE_CHARS ? `${line.slice(0, SAMPLE_CHARS)}…` : line
}

const hex = (bytes: Uint8Array, n: number) =>
  Array.from(bytes.subarray(0, n), (b) => b.toString(16).padStart(2, "0")).join(" ") + (bytes.length > n ? " …" : "")

const TLS_CONTENT: Record<number, string> = {
  0x14: "a TLS ChangeCipherSpec record",
  0x15: "a TLS alert",
  0x16: "a TLS handshake record",
  0x17: "TLS application data"
}

/** A TLS record header: content type 20..23, then version 3.0 to 3.4 (SSL 3 up to TLS 1.3's legacy field). */
const tls = (bytes: Uint8Array): Foreign | undefined => {
  const content = TLS_CONTENT[bytes[0] ?? -1]
  if (content === undefined || bytes.length < 3 || bytes[1] !== 0x03 || bytes[2]! > 0x04) return undefined
  const hello = bytes[0] === 0x16 && bytes[5] === 0x01
  return { protocol: "tls", what: hello ? "a TLS ClientHello" : content, sample: hex(bytes, 8) }
}

const TEXT: ReadonlyArray<readonly [RegExp, Foreign["protocol"], string]> = [
  [/^SSH-\d/, "ssh", "an SSH banner"],
  [/^HTTP\/\d/, "http", "an HTTP response"],
  [/^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE|PRI) \S/, "http", "an HTTP request"],
  [/^(\d{3}[ -]|\+OK|\* OK)/, "text", "a text banner"]
]

/**
 * What the first bytes of a stream are, when they are plainly not libvirt's protocol (see the module header).
 *
 * @since 0.2.0
 * @category recognizing
 */
export const recognize = (head: Uint8Array | undefined): Foreign | undefined => {
  if (head === undefined || head.length === 0 || head[0]! < 0x14) return undefined
  const record = tls(head)
  if (record !== undefined) return record
  const line = firstLine(head)
  if (line === undefined) return undefined
  const known = TEXT.find(([pattern]) => pattern.test(line))
  return { protocol: known?.[1] ?? "text", what: known?.[2] ?? "text", sample: line }
}

/**
 * The recognition in words: `the peer does not speak libvirt's protocol: it sent an SSH banner 'SSH-2.0-…'`.
 *
 * @since 0.2.0
 * @category formatting
 */
export const describe = (foreign: Foreign): string =>
  `the peer does not speak libvirt's protocol: it sent ${foreign.what} ${foreign.protocol === "tls" ? `(${foreign.sample})` : `'${foreign.sample}'`}`
