/**
 * Our libvirt server over TLS with x509, as libvirtd's `listen_tls` serves it: `Acceptor.tls` plus
 * `Server.serve`.
 *
 * Contract:
 * - {@link listen} is scoped: it reads the CA, the server certificate and key (from `pkipath`, or libvirtd's
 *   default files `/etc/pki/CA/cacert.pem`, `/etc/pki/libvirt/servercert.pem`,
 *   `/etc/pki/libvirt/private/serverkey.pem`), listens, and serves every client until the scope closes. A missing
 *   file is a `CertificateNotFound` naming it.
 * - As libvirtd does, the server sends one byte (1) right after the handshake to tell the client its certificate
 *   was accepted; libvirt's client waits for it. The server speaks TLS 1.2 at most: libvirt's client takes the
 *   byte with one read right after the handshake, and TLS 1.3's post-handshake session tickets would be all that
 *   read finds.
 * - Clients must present a certificate signed by the CA, as libvirtd requires by default
 *   (`tls_no_verify_certificate = 0`); `verifyClient: false` accepts any client. A failed handshake ends only that
 *   client's socket.
 * - Everything after the handshake is `Server.serve`'s contract.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import type * as Scope from "effect/Scope"
import type * as SocketServer from "effect/socket/SocketServer"
import * as Acceptor from "./Acceptor.ts"
import { loadServerCredentials } from "./Certificates.ts"
import type { CertificateNotFound } from "./DialError.ts"
import { sendingCheckByte } from "./TlsCheck.ts"
import type * as Keepalive from "../core/Keepalive.ts"
import * as Server from "./Server.ts"
import * as Session from "../session/Session.ts"

/**
 * Where to listen and which x509 files to use.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsListenOptions {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  /** A directory with cacert.pem, servercert.pem and serverkey.pem; default: libvirtd's files. */
  readonly pkipath?: string
  /** Require a client certificate signed by the CA (libvirtd's default). Default true. */
  readonly verifyClient?: boolean
}

/**
 * The server's x509 files: in `pkipath`, or libvirtd's defaults (see `Certificates`).
 *
 * @since 0.1.0
 * @category tls
 */
export { serverFiles } from "./Certificates.ts"

/**
 * The same server, but every accepted client first gets libvirtd's check byte (see `TlsCheck`).
 *
 * @since 0.1.0
 * @category tls
 */
export { sendingCheckByte } from "./TlsCheck.ts"

/**
 * Listens for TLS clients and serves them until the scope closes.
 *
 * @since 0.1.0
 * @category running
 */
export const listen = (
  where: TlsListenOptions,
  options: Server.ServeOptions = {}
): Effect.Effect<
  Server.Running,
  CertificateNotFound | Server.ListenFailed | SocketServer.SocketServerError | Keepalive.InvalidKeepaliveConfig | Session.InvalidPolicy,
  Scope.Scope | FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    yield* Server.keepaliveOptions(options.keepalive)
    const { ca, cert, key } = yield* loadServerCredentials(where.pkipath)
    const verify = where.verifyClient ?? true
    const server = yield* Acceptor.tls({
      host: where.host,
      port: where.port,
      ca,
      cert,
      key,
      requestCert: verify,
      rejectUnauthorized: verify,
      // libvirt's client reads the check byte with a single read right after its handshake; TLS 1.3's session
      // tickets, sent after the handshake, would be all that read finds ("Unable to read TLS confirmation")
      maxVersion: "TLSv1.2"
    }).pipe(Effect.mapError((cause) => Server.listenFailed(cause, where)))
    return yield* Server.run(sendingCheckByte(server), options)
  })
