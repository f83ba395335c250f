/**
 * A libvirt remote-program client with keepalive, on any socket.
 *
 * Contract:
 * - {@link connect} is scoped. It runs the open sequence AUTH_LIST → SUPPORTS_FEATURE(PROGRAM_KEEPALIVE) →
 *   CONNECT_OPEN(name) and succeeds once the server accepted CONNECT_OPEN; a refusal or a broken handshake
 *   fails with a typed error carrying libvirt's code, domain and message.
 * - When the scope closes, the client sends CONNECT_CLOSE and waits (at most `closeTimeout` ms) for the reply,
 *   then closes the socket. A connection that already ended is simply released.
 * - Everything else is the {@link Connection.Connection} underneath: `call`, `setKeepAlive`, `status`, `frames`,
 *   `closed`.
 *
 * @since 0.1.0
 */
import { Duration, Effect } from "effect"
import type { Scope } from "effect"
import type * as Socket from "effect/socket/Socket"
import * as Connection from "./Connection.ts"
import type * as ProtocolVariant from "../session/ProtocolVariant.ts"
import * as Session from "../session/Session.ts"

/**
 * Options of {@link connect}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions {
  /** The connection name sent in CONNECT_OPEN, e.g. `"test:///default"`; undefined lets the server choose. */
  readonly name: string | undefined
  /** CONNECT_OPEN flags (1 = read-only). Default 0. */
  readonly flags?: number
  /** Advertise keepalive while opening (libvirt's client does when it has an event loop). Default true. */
  readonly advertise?: boolean
  readonly variant?: ProtocolVariant.ProtocolVariant
  /**
   * How long to wait for the CONNECT_CLOSE reply when the scope closes, in ms. Default 1000. 0 skips
   * CONNECT_CLOSE and just closes the socket.
   */
  readonly closeTimeout?: number
  /** Observes the traffic and events (see `Connection.Options`). */
  readonly trace?: Connection.Options["trace"]
}

/**
 * An open client connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Client extends Connection.Connection {
  /** What the server answered to SUPPORTS_FEATURE(PROGRAM_KEEPALIVE). */
  readonly serverKeepalive: boolean
}

/**
 * Opens a libvirt connection over `socket`.
 *
 * **Example**
 * ```ts
 * const program = Effect.gen(function*() {
 *   const socket = yield* Transport.tcp({ host: "127.0.0.1", port: 16509 })
 *   const client = yield* Client.connect(socket, { name: "test:///default" })
 *   yield* client.setKeepAlive(5000, 5)
 *   return yield* client.closed
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (
  socket: Socket.Socket,
  options: ConnectOptions
): Effect.Effect<Client, Connection.ConnectionError | Connection.ConnectionClosed, Scope.Scope> =>
  Effect.gen(function*() {
    const clientOptions: Session.ClientOptions = {
      ...(options.advertise === undefined ? {} : { advertise: options.advertise }),
      ...(options.variant === undefined ? {} : { variant: options.variant })
    }
    const connection = yield* Connection.make(
      socket,
      (now) => Session.client(now, clientOptions),
      options.trace === undefined ? {} : { trace: options.trace }
    )
    const closeTimeout = options.closeTimeout ?? 1000
    yield* Effect.addFinalizer(() =>
      closeTimeout <= 0
        ? Effect.void
        : connection.close.pipe(Effect.timeoutOption(Duration.millis(closeTimeout)), Effect.ignore)
    )
    yield* connection.request((now) => Session.Input.Open(now, options.name, options.flags ?? 0))
    const serverKeepalive = yield* connection.opened
    return { ...connection, serverKeepalive }
  })
