/**
 * From a libvirt URI to a connection: TCP, Unix, TLS (x509), ssh and ext, each as an `effect/socket` `Socket`.
 *
 * Contract:
 * - {@link socket} resolves a {@link Uri.Uri} to a socket that opens when the runtime starts reading, as the other
 *   transports do. tcp and unix use `NodeSocket.makeNet`; tls uses Node's `tls.connect` with the certificates found
 *   where libvirt's client looks (`Certificates`) and waits for libvirtd's check byte (`TlsCheck`); ssh and ext
 *   run a program and speak over its stdin/stdout (`ChildSocket`).
 * - {@link connect} dials and runs `Client.connect` with the URI's connection name. A failure to reach the daemon is
 *   a typed {@link DialError} naming the address and the system error code: {@link ConnectFailed},
 *   {@link UntrustedCertificate}, {@link ExpiredCertificate}, {@link HostnameMismatch}, {@link TlsFailure},
 *   {@link CertificateRefused}, {@link CertificateNotFound}, {@link ProcessFailed}. Everything after the socket
 *   opened is the connection's own error (`Connection.ConnectionError`).
 * - {@link connect} bounds the whole open (dialling, TLS, the handshake) by one `openTimeout`, default 30 seconds:
 *   past it, `OpenTimeout` names the phase it was stuck in; a TLS socket tells `connect` from `tls`.
 * - The program of ssh/ext is killed when the connection's scope closes (SIGTERM, then SIGKILL after 500 ms); its
 *   stderr is kept (the last 4 KiB) for the error when it exits early.
 * - The errors, the certificate search, the program socket and the check byte are re-exported here under the names
 *   this module has always had.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as CommandLine from "effect/process/CommandLine"
import type * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Tls from "node:tls"
import { loadCredentials } from "./Certificates.ts"
import { fromProcess } from "./ChildSocket.ts"
import * as Client from "./Client.ts"
import { type CertificateNotFound, type DialError, type DialTarget, explain } from "./DialError.ts"
import * as OpenTimeout from "./OpenTimeout.ts"
import { expectCheckByte } from "./TlsCheck.ts"
import * as Transport from "./Transport.ts"
import * as Uri from "./Uri.ts"

/**
 * Why a dial failed, one class per reason (see `DialError`).
 *
 * @since 0.1.0
 * @category errors
 */
export {
  CertificateNotFound,
  CertificateRefused,
  ConnectFailed,
  ExpiredCertificate,
  HostnameMismatch,
  ProcessFailed,
  TlsFailure,
  UntrustedCertificate
} from "./DialError.ts"

/**
 * Why a URI could not be dialled: the union of the error classes above and `Uri.UriError`.
 *
 * @since 0.1.0
 * @category errors
 */
export type { DialError } from "./DialError.ts"

/**
 * Where libvirt's client looks for its x509 files, and reading them (see `Certificates`).
 *
 * @since 0.1.0
 * @category tls
 */
export { certificatePaths, loadCredentials } from "./Certificates.ts"

/**
 * libvirtd's check byte after a TLS handshake, and the client socket that waits for it (see `TlsCheck`).
 *
 * @since 0.1.0
 * @category tls
 */
export { CHECK_BYTE, expectCheckByte } from "./TlsCheck.ts"

/**
 * A socket over a program's stdin and stdout, as ssh and ext use (see `ChildSocket`).
 *
 * @since 0.1.0
 * @category constructors
 */
export { fromProcess } from "./ChildSocket.ts"

/**
 * The same socket, but once opening it has failed, its writes fail with that error instead of waiting for an open
 * that will never come (a Node socket's writes wait until its reader has opened it). A runtime that writes, or
 * closes with a `CloseEvent`, while the dial fails then ends instead of hanging.
 *
 * @since 0.1.0
 * @category constructors
 */
export const failWritesIfOpenFails = (socket: Socket.Socket): Effect.Effect<Socket.Socket> =>
  Effect.map(Deferred.make<never, Socket.SocketError>(), (failed) => {
    const orFailed = <A>(effect: Effect.Effect<A, Socket.SocketError>) => Effect.raceFirst(effect, Deferred.await(failed))
    // the runtime's direct writes go to the stream only once it is open
    return Transport.carryRaw(
      socket,
      Socket.make({
        reader: socket.reader.pipe(Effect.tapError((e) => Deferred.fail(failed, e))),
        writer: Effect.map(socket.writer, (w): Socket.Writer => ({
          write: (chunk) => orFailed(w.write(chunk)),
          writeAll: (chunks) => orFailed(w.writeAll(chunks))
        }))
      })
    )
  })

/**
 * Options of {@link socket} and {@link connect}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * How long opening may take. {@link connect}: the whole open (connecting, TLS, AUTH_LIST, SUPPORTS_FEATURE,
   * CONNECT_OPEN), failing with `OpenTimeout` naming the phase; {@link socket}: opening the socket (TCP, TLS
   * handshake). Default 30 seconds; `Duration.infinity` (or ≤ 0) waits forever, as libvirt does.
   */
  readonly openTimeout?: Duration.Input
  /** Use the read-only default socket (unix, ssh). Default false. */
  readonly readOnly?: boolean
  /** Extra ssh arguments, placed before the host (e.g. `-o UserKnownHostsFile=…`). */
  readonly sshOptions?: ReadonlyArray<string>
  /** Home directory and root-ness for the certificate search; default: this process's. */
  readonly pki?: { readonly home: string; readonly root: boolean }
}

/**
 * A dialled socket and a description of where it goes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Dialed extends DialTarget {
  readonly uri: Uri.Uri
  readonly socket: Socket.Socket
}

const hostPort = (host: string, port: number | undefined) => `${Net.isIPv6(host) ? `[${host}]` : host}:${port}`

const unixSocket = (uri: Uri.Uri, options: Options) =>
  uri.params.socket ?? Uri.defaultSocket(uri, {
    readOnly: options.readOnly ?? false,
    ...(process.env.XDG_RUNTIME_DIR === undefined ? {} : { runtimeDir: process.env.XDG_RUNTIME_DIR })
  })

const tlsSocket = Effect.fnUntraced(function*(uri: Uri.Uri, options: Options, openTimeout: Duration.Input | undefined) {
  const host = Uri.host(uri)
  const port = Uri.port(uri)
  const where = options.pki ?? { home: Os.homedir(), root: process.getuid?.() === 0 }
  const credentials = yield* loadCredentials(uri, where)
  // dialled as NodeSocket.makeTls does, telling the open timeout whether TCP is up (then the TLS handshake is on)
  let connected = false
  const tlsOptions: Tls.ConnectionOptions = {
    host,
    ...(port === undefined ? {} : { port }),
    ...(Net.isIP(host) === 0 ? { servername: host } : {}),
    ...(credentials.ca === undefined ? {} : { ca: Buffer.from(credentials.ca.bytes) }),
    ...(credentials.identity === undefined ? {} : { cert: Buffer.from(credentials.identity.cert), key: Buffer.from(credentials.identity.key) }),
    rejectUnauthorized: !uri.params.noVerify
  }
  const connect = () => Tls.connect(tlsOptions).once("connect", () => void (connected = true))
  const socket = yield* Transport.fromConnect(connect, { ready: "secureConnect", openTimeout }).pipe(Effect.flatMap(failWritesIfOpenFails))
  const address = hostPort(host, port)
  const checked = OpenTimeout.withTransportPhase(expectCheckByte(socket, address), () => (connected ? "tls" : "connect"))
  return { socket: checked, address, tls: { host, ca: credentials.ca?.path } }
})

const processSocket = Effect.fnUntraced(function*(uri: Uri.Uri, options: Options) {
  const cmd = uri.transport === "ext"
    ? { command: uri.params.command ?? "", args: [] }
    : yield* Effect.fromResult(Uri.sshCommand(uri, options.sshOptions ?? []))
  const socket = yield* fromProcess(cmd.command, cmd.args)
  return { socket, address: CommandLine.display([cmd.command, ...cmd.args]), tls: undefined }
})

/**
 * A socket for a URI (a string is parsed first). It opens when the runtime starts reading.
 *
 * @since 0.1.0
 * @category constructors
 */
export const socket = (
  target: string | Uri.Uri,
  options: Options = {}
): Effect.Effect<Dialed, Uri.UriError | CertificateNotFound, FileSystem.FileSystem | ChildProcessSpawner> =>
  Effect.flatMap(parse(target), (uri) => dial(uri, options, OpenTimeout.millis(options.openTimeout)))

const parse = (target: string | Uri.Uri) => (typeof target === "string" ? Effect.fromResult(Uri.parse(target)) : Effect.succeed(target))

/** The socket for a URI, its opening bounded by `openTimeout` ms when given. */
const dial = (uri: Uri.Uri, options: Options, openTimeout: number | undefined) =>
  Effect.gen(function*() {
    const bound = openTimeout === undefined ? {} : { openTimeout }
    switch (uri.transport) {
      case "tcp":
      case "unix": {
        const where = uri.transport === "tcp" ? { host: Uri.host(uri), port: Uri.port(uri) ?? 0 } : { path: unixSocket(uri, options) }
        const socket = yield* NodeSocket.makeNet({ ...where, noDelay: true, ...bound }).pipe(Effect.flatMap(failWritesIfOpenFails))
        return { uri, socket, address: "path" in where ? where.path : hostPort(where.host, where.port), tls: undefined }
      }
      case "tls":
        return { uri, ...(yield* tlsSocket(uri, options, openTimeout)) }
      case "ssh":
      case "ext":
        return { uri, ...(yield* processSocket(uri, options)) }
    }
  })

/**
 * Options of {@link connect}: dialling plus `Client.connect`'s (the connection name defaults to the URI's).
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions extends Options, Omit<Client.ConnectOptions, "name"> {
  readonly name?: string | undefined
}

/**
 * Connects to the daemon a URI names and opens the connection (AUTH_LIST, SUPPORTS_FEATURE, CONNECT_OPEN).
 *
 * **Example**
 * ```ts
 * const program = Effect.gen(function*() {
 *   const client = yield* Dial.connect("qemu+tls://host/system?pkipath=/etc/pki/me")
 *   yield* client.setKeepAlive(5000, 5)
 *   return yield* client.closed
 * }).pipe(Effect.scoped, Effect.provide(NodeServices.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (
  target: string | Uri.Uri,
  options: ConnectOptions = {}
): Effect.Effect<
  Client.Client,
  DialError | Client.DialOpenError,
  Scope.Scope | FileSystem.FileSystem | ChildProcessSpawner
> =>
  Effect.gen(function*() {
    const uri = yield* parse(target)
    const { name, ...rest } = options
    let dialed: Dialed | undefined
    // the socket has no bound of its own: the open timeout covers it with the handshake, and names the phase
    const dialing = Effect.map(dial(uri, options, undefined), (d) => ((dialed = d), d.socket))
    return yield* Client.connectWith(dialing, { ...rest, name: name ?? uri.name }).pipe(
      Effect.mapError((error) => (dialed === undefined ? error : explain(dialed)(error)))
    )
  })
