/**
 * The x509 files of libvirt's TLS transport: where libvirt's client and libvirtd look for them, and reading them.
 *
 * Contract:
 * - {@link certificatePaths} is where libvirt's client looks, in order: under `pkipath` only, when the URI gives
 *   it; otherwise (not root) `~/.pki/libvirt/`, then the system files. {@link serverFiles} is where libvirtd looks:
 *   under `pkipath`, or its system files.
 * - {@link loadCredentials} reads the client's files: the first readable one of each kind. The CA is required
 *   unless `no_verify`; under `pkipath` all three are (as in libvirt); elsewhere the client certificate and key
 *   are used when both are found. {@link loadServerCredentials} requires all three server files.
 * - A missing or unreadable file that is required is a {@link CertificateNotFound} naming it and every place
 *   searched.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Path from "node:path"
import { CertificateNotFound } from "./DialError.ts"
import type * as Uri from "./Uri.ts"

/**
 * Where the certificate search starts: the home directory, and whether we run as root (root has no
 * `~/.pki/libvirt`).
 *
 * @since 0.2.0
 * @category models
 */
export interface Where {
  readonly home: string
  readonly root: boolean
}

/**
 * Where libvirt's client looks for its x509 files, in order: `pkipath` only, when given; otherwise (not root)
 * `~/.pki/libvirt/`, then the system paths `/etc/pki/CA/cacert.pem`, `/etc/pki/libvirt/clientcert.pem`,
 * `/etc/pki/libvirt/private/clientkey.pem`.
 *
 * @since 0.1.0
 * @category paths
 */
export const certificatePaths = (
  uri: Uri.Uri,
  where: Where
): { readonly ca: ReadonlyArray<string>; readonly cert: ReadonlyArray<string>; readonly key: ReadonlyArray<string> } => {
  const pki = uri.params.pkipath
  if (pki !== undefined) {
    return { ca: [Path.join(pki, "cacert.pem")], cert: [Path.join(pki, "clientcert.pem")], key: [Path.join(pki, "clientkey.pem")] }
  }
  const user = where.root ? [] : [Path.join(where.home, ".pki", "libvirt")]
  return {
    ca: [...user.map((d) => Path.join(d, "cacert.pem")), "/etc/pki/CA/cacert.pem"],
    cert: [...user.map((d) => Path.join(d, "clientcert.pem")), "/etc/pki/libvirt/clientcert.pem"],
    key: [...user.map((d) => Path.join(d, "clientkey.pem")), "/etc/pki/libvirt/private/clientkey.pem"]
  }
}

/**
 * The server's x509 files: in `pkipath`, or libvirtd's defaults.
 *
 * @since 0.1.0
 * @category paths
 */
export const serverFiles = (pkipath: string | undefined): { readonly ca: string; readonly cert: string; readonly key: string } =>
  pkipath === undefined
    ? { ca: "/etc/pki/CA/cacert.pem", cert: "/etc/pki/libvirt/servercert.pem", key: "/etc/pki/libvirt/private/serverkey.pem" }
    : { ca: Path.join(pkipath, "cacert.pem"), cert: Path.join(pkipath, "servercert.pem"), key: Path.join(pkipath, "serverkey.pem") }

/** The first of the paths that can be read, with its bytes; `undefined` when none can. */
const firstReadable = (fs: FileSystem.FileSystem, paths: ReadonlyArray<string>) =>
  Effect.findFirst(paths, (p) => fs.access(p).pipe(Effect.as(true), Effect.orElseSucceed(() => false))).pipe(
    Effect.flatMap((found) =>
      found._tag === "None" ? Effect.succeed(undefined) : fs.readFile(found.value).pipe(
        Effect.map((bytes) => ({ path: found.value, bytes })),
        Effect.orElseSucceed(() => undefined)
      )
    )
  )

/**
 * The x509 files for a tls URI. The CA is required unless `no_verify`; under `pkipath` all three are (as in
 * libvirt); elsewhere the client certificate and key are used when both are found.
 *
 * @since 0.1.0
 * @category loading
 */
export const loadCredentials = Effect.fnUntraced(function*(uri: Uri.Uri, where: Where) {
  const fs = yield* FileSystem.FileSystem
  const paths = certificatePaths(uri, where)
  const [ca, cert, key] = yield* Effect.all([firstReadable(fs, paths.ca), firstReadable(fs, paths.cert), firstReadable(fs, paths.key)])
  const strict = uri.params.pkipath !== undefined
  if (ca === undefined && (strict || !uri.params.noVerify)) return yield* new CertificateNotFound({ file: "CA certificate", searched: paths.ca })
  if (strict && cert === undefined) return yield* new CertificateNotFound({ file: "client certificate", searched: paths.cert })
  if (strict && key === undefined) return yield* new CertificateNotFound({ file: "client key", searched: paths.key })
  return { ca, identity: cert !== undefined && key !== undefined ? { cert: cert.bytes, key: key.bytes } : undefined }
})

const readRequired = (fs: FileSystem.FileSystem, file: CertificateNotFound["file"], path: string) =>
  fs.readFile(path).pipe(
    Effect.map((bytes) => Buffer.from(bytes)),
    Effect.mapError(() => new CertificateNotFound({ file, searched: [path] }))
  )

/**
 * The server's CA, certificate and key ({@link serverFiles}), each required.
 *
 * @since 0.2.0
 * @category loading
 */
export const loadServerCredentials = Effect.fnUntraced(function*(pkipath: string | undefined) {
  const fs = yield* FileSystem.FileSystem
  const files = serverFiles(pkipath)
  const ca = yield* readRequired(fs, "CA certificate", files.ca)
  const cert = yield* readRequired(fs, "server certificate", files.cert)
  const key = yield* readRequired(fs, "server key", files.key)
  return { ca, cert, key }
})
