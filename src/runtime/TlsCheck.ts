/**
 * libvirt's TLS check byte: right after the TLS handshake, libvirtd sends one byte, 1, when it accepts the
 * client's certificate and address, and libvirt's client reads it before its first call.
 *
 * Contract:
 * - {@link expectCheckByte} is the client's side: the socket's reader opens only after the byte; a 1 lets the
 *   connection go on (bytes that came with it are kept), anything else or the end fails the open with
 *   {@link CertificateRefused} naming the address and what came instead.
 * - {@link sendingCheckByte} is the server's side: every accepted client gets the byte before anything else.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Socket from "effect/socket/Socket"
import type * as SocketServer from "effect/socket/SocketServer"
import { CertificateRefused, errorCode, errorDetail, openFailure } from "./DialError.ts"
import * as Transport from "./Transport.ts"

/**
 * The byte libvirtd sends right after a TLS handshake when it accepted the client's certificate and address.
 *
 * @since 0.1.0
 * @category tls
 */
export const CHECK_BYTE = 1

const asBytes = (chunk: Uint8Array | string) => (typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk)

const endOf = (e: Socket.SocketError): string =>
  e.reason._tag === "SocketCloseError" ? "closed by the server" : `${errorCode(e.reason.cause)}: ${errorDetail(e.reason.cause)}`

/**
 * A TLS client socket that, once open, reads libvirtd's check byte before anything else: a `1` lets the
 * connection go on (bytes that came with it are kept), anything else or the end fails the open with
 * {@link CertificateRefused}.
 *
 * @since 0.1.0
 * @category tls
 */
export const expectCheckByte = (socket: Socket.Socket, address: string): Socket.Socket => {
  // what came with the check byte: for the socket's reader, or for the runtime's synchronous read of the stream
  let pending: Array<Uint8Array> = []
  const checked = Socket.make({
    writer: socket.writer,
    reader: Effect.gen(function*() {
      const inner = yield* socket.reader
      const refused = (detail: string) => openFailure(new CertificateRefused({ address, detail }))
      const first = yield* inner.pull.pipe(Effect.mapError((e) => refused(`the connection ended before the check byte (${endOf(e)})`)))
      const [head, ...rest] = first.map(asBytes)
      if (head === undefined || head[0] !== CHECK_BYTE) return yield* refused(`the check byte was ${head?.[0] ?? "missing"}, not ${CHECK_BYTE}`)
      pending = [head.subarray(1), ...rest].filter((c) => c.length > 0)
      const pull = Effect.suspend(() => {
        const [next, ...more] = pending
        if (next === undefined) return inner.pull
        pending = []
        return Effect.succeed([next, ...more] as const)
      })
      return { pull, upgrade: inner.upgrade }
    })
  })
  const raw = Transport.rawOf(socket)
  if (raw === undefined) return checked
  let prefixed: Transport.RawStream | undefined
  return Transport.withRaw(checked, () => {
    const stream = raw()
    if (stream === undefined) return undefined
    prefixed ??= Transport.withPrefix(stream, () => {
      const first = pending
      pending = []
      return first
    })
    return prefixed
  })
}

/**
 * The same server, but every accepted client first gets libvirtd's check byte (1: certificate and address
 * accepted), which libvirt's client reads before its first call. Node has verified the client's certificate by
 * the time a socket is accepted.
 *
 * @since 0.1.0
 * @category tls
 */
export const sendingCheckByte = (server: SocketServer.SocketServer["Service"]): SocketServer.SocketServer["Service"] => ({
  address: server.address,
  run: (handler) =>
    server.run((socket) =>
      Effect.gen(function*() {
        const writer = yield* socket.writer
        // the write waits until the handler opens the socket's reader; the client sends nothing before the byte
        yield* writer.write(new Uint8Array([CHECK_BYTE])).pipe(Effect.ignore, Effect.forkScoped)
        return yield* handler(socket)
      }).pipe(Effect.scoped)
    )
})
