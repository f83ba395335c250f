/**
 * Why a libvirt URI could not be dialled: one error class per reason, each naming the address (or the program) and
 * the system error, and how a connection that failed to open is explained as one of them.
 *
 * Contract:
 * - {@link DialError} is the union of the reasons: a bad URI (`Uri.UriError`), {@link ConnectFailed},
 *   {@link UntrustedCertificate}, {@link ExpiredCertificate}, {@link HostnameMismatch}, {@link TlsFailure},
 *   {@link CertificateRefused}, {@link CertificateNotFound}, {@link ProcessFailed}.
 * - A transport that fails to open for a reason of its own carries that error as the cause of a socket open error
 *   ({@link openFailure}); {@link explain} takes it back out. A TLS failure is classified by Node's error code;
 *   a program that ended is its {@link ProcessFailed}.
 * - {@link explain} changes only a connection's failure to open: every other error passes unchanged.
 *
 * @since 0.2.0
 */
import * as Data from "effect/Data"
import * as Socket from "effect/socket/Socket"
import { ConnectFailed, SocketFailure } from "./ConnectionError.ts"
import type * as Uri from "./Uri.ts"

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * The socket could not be opened: `code` is the system error (`ECONNREFUSED`, `ENOENT`, `EACCES`, `ETIMEDOUT`, …).
 * The same class as `Connection.ConnectFailed`, so every entry point reports a refused address alike.
 *
 * @since 0.1.0
 * @category errors
 */
export { ConnectFailed } from "./ConnectionError.ts"

/**
 * The server's certificate is not signed by a CA we trust.
 *
 * @since 0.1.0
 * @category errors
 */
export class UntrustedCertificate extends Data.TaggedError("UntrustedCertificate")<{
  readonly address: string
  readonly code: string
  readonly ca: string | undefined
}> {
  override get message(): string {
    return `the certificate of ${this.address} is not trusted by the CA ${this.ca ?? "(none)"}: ${this.code}`
  }
}

/**
 * The server's certificate has expired (or is not valid yet).
 *
 * @since 0.1.0
 * @category errors
 */
export class ExpiredCertificate extends Data.TaggedError("ExpiredCertificate")<{ readonly address: string; readonly code: string }> {
  override get message(): string {
    return `the certificate of ${this.address} is outside its validity period: ${this.code}`
  }
}

/**
 * The server's certificate does not name the host we dialled.
 *
 * @since 0.1.0
 * @category errors
 */
export class HostnameMismatch extends Data.TaggedError("HostnameMismatch")<{
  readonly address: string
  readonly host: string
  readonly detail: string
}> {
  override get message(): string {
    return `the certificate of ${this.address} does not match the host name "${this.host}": ${this.detail}`
  }
}

/**
 * Another TLS failure: the handshake failed or the server refused our certificate.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsFailure extends Data.TaggedError("TlsFailure")<{ readonly address: string; readonly code: string; readonly detail: string }> {
  override get message(): string {
    return `TLS with ${this.address} failed: ${this.code} (${this.detail})`
  }
}

/**
 * The TLS server did not confirm our certificate: after the handshake libvirtd sends one byte, 1, when it accepts
 * the client's certificate and address; it sent something else or closed.
 *
 * @since 0.1.0
 * @category errors
 */
export class CertificateRefused extends Data.TaggedError("CertificateRefused")<{ readonly address: string; readonly detail: string }> {
  override get message(): string {
    return `${this.address} refused our certificate or address (server verification failed): ${this.detail}`
  }
}

/**
 * A certificate or key file libvirt needs was not found (or not readable) in any of the places searched.
 *
 * @since 0.1.0
 * @category errors
 */
export class CertificateNotFound extends Data.TaggedError("CertificateNotFound")<{
  readonly file: "CA certificate" | "client certificate" | "client key" | "server certificate" | "server key"
  readonly searched: ReadonlyArray<string>
}> {
  override get message(): string {
    return `no ${this.file} found; searched ${this.searched.join(", ")}`
  }
}

/**
 * The program of an ssh or ext connection ended: its exit code and the end of its stderr.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProcessFailed extends Data.TaggedError("ProcessFailed")<{
  readonly command: string
  readonly exitCode: number | undefined
  readonly stderr: string
}> {
  override get message(): string {
    const how = this.exitCode === undefined ? "ended" : `exited with code ${this.exitCode}`
    const err = this.stderr.trim()
    return `${this.command} ${how}${err === "" ? "" : `: ${err}`}`
  }
}

/**
 * Why a URI could not be dialled.
 *
 * @since 0.1.0
 * @category errors
 */
export type DialError =
  | Uri.UriError
  | ConnectFailed
  | UntrustedCertificate
  | ExpiredCertificate
  | HostnameMismatch
  | TlsFailure
  | CertificateRefused
  | CertificateNotFound
  | ProcessFailed

// ---------------------------------------------------------------------------------------------------------------
// Explaining a failed open
// ---------------------------------------------------------------------------------------------------------------

/**
 * The system error code of a failure (`ECONNREFUSED`, `ERR_TLS_CERT_ALTNAME_INVALID`, …), or `EUNKNOWN`.
 *
 * @since 0.2.0
 * @category explaining
 */
export const errorCode = (cause: unknown): string => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? cause.code : undefined
  return typeof code === "string" ? code : "EUNKNOWN"
}

/**
 * The message of a failure, or its text.
 *
 * @since 0.2.0
 * @category explaining
 */
export const errorDetail = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/**
 * A transport's own reason for not opening (a {@link ConnectFailed} naming a program that did not start, a
 * {@link CertificateRefused}, …) as the socket open error that carries it to {@link explain}.
 *
 * @since 0.2.0
 * @category explaining
 */
export const openFailure = (cause: unknown): Socket.SocketError => new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause }) })

/**
 * Where a dial went, as far as explaining its failure needs it: the address as the URI names it, and for TLS the
 * host name checked against the certificate and the CA file used.
 *
 * @since 0.2.0
 * @category models
 */
export interface DialTarget {
  /** `host:port`, a socket path, or the command line. */
  readonly address: string
  readonly tls: { readonly host: string; readonly ca: string | undefined } | undefined
}

const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED"
])
const EXPIRED = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"])

const classifyOpen = (target: DialTarget, reason: Socket.SocketOpenError): DialError => {
  const { address, tls } = target
  if (reason.cause instanceof ProcessFailed || reason.cause instanceof ConnectFailed || reason.cause instanceof CertificateRefused) return reason.cause
  if (reason.kind === "Timeout") return new ConnectFailed({ address, code: "ETIMEDOUT", detail: "no connection within the open timeout" })
  const code = errorCode(reason.cause)
  const detail = errorDetail(reason.cause)
  if (tls !== undefined) {
    if (UNTRUSTED.has(code)) return new UntrustedCertificate({ address, code, ca: tls.ca })
    if (EXPIRED.has(code)) return new ExpiredCertificate({ address, code })
    if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return new HostnameMismatch({ address, host: tls.host, detail })
    if (code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") || code === "ECONNRESET") return new TlsFailure({ address, code, detail })
  }
  return new ConnectFailed({ address, code, detail })
}

/**
 * A connection's error, explained: when its socket never opened (or its program failed), the {@link DialError}
 * that says why, naming the address as the URI names it (the connection reports the one the system resolved);
 * any other error unchanged.
 *
 * @since 0.2.0
 * @category explaining
 */
export const explain = (target: DialTarget) => <E>(error: E): E | DialError => {
  if (error instanceof ConnectFailed) return new ConnectFailed({ address: target.address, code: error.code, detail: error.detail })
  if (!(error instanceof SocketFailure)) return error
  const reason = error.cause.reason
  if (reason._tag === "SocketOpenError") return classifyOpen(target, reason)
  if (reason._tag === "SocketReadError" && reason.cause instanceof ProcessFailed) return reason.cause
  return error
}
