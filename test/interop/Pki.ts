/**
 * x509 files for the TLS interop tests, made with Debian's openssl in a temporary directory: a CA, a server
 * certificate for 127.0.0.1, a client certificate, and the bad ones (another CA, an expired server certificate, a
 * server certificate for another host name). The directory is removed when the scope closes.
 *
 * The layouts are libvirt's: a client `pkipath` holds cacert.pem, clientcert.pem and clientkey.pem; a server
 * directory holds cacert.pem, servercert.pem and serverkey.pem.
 */
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect } from "effect"
import type { Scope } from "effect"

const openssl = (args: ReadonlyArray<string>, cwd: string): void => {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8" })
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.error?.message ?? ""}`)
}

const REQ_CONF = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
const CA_CONF = (dir: string) =>
  [
    "[ca]",
    "default_ca = ca_default",
    "[ca_default]",
    `database = ${dir}/index.txt`,
    `new_certs_dir = ${dir}/newcerts`,
    `serial = ${dir}/serial`,
    "default_md = sha256",
    "policy = policy_any",
    "unique_subject = no",
    "email_in_dn = no",
    "[policy_any]",
    "commonName = supplied"
  ].join("\n") + "\n"

const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

/** A CA that can sign. */
interface Ca {
  readonly dir: string
  readonly cert: string
  readonly key: string
}

const makeCa = (root: string, name: string): Ca => {
  const dir = Path.join(root, name)
  Fs.mkdirSync(Path.join(dir, "newcerts"), { recursive: true })
  Fs.writeFileSync(Path.join(dir, "index.txt"), "")
  Fs.writeFileSync(Path.join(dir, "serial"), "1000\n")
  Fs.writeFileSync(Path.join(dir, "req.cnf"), REQ_CONF)
  Fs.writeFileSync(Path.join(dir, "ca.cnf"), CA_CONF(dir))
  openssl([
    "req",
    "-config",
    "req.cnf",
    "-x509",
    "-new",
    ...newKey,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "3",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign"
  ], dir)
  return { dir, cert: Path.join(dir, "ca.pem"), key: Path.join(dir, "ca.key") }
}

/** Issues a certificate; `dates` defaults to valid from yesterday for two days. */
const issue = (ca: Ca, name: string, options: {
  readonly cn: string
  readonly usage: "serverAuth" | "clientAuth"
  readonly san?: string
  readonly dates?: readonly [string, string]
}): { readonly cert: string; readonly key: string } => {
  const ext = [
    "[ext]",
    "basicConstraints = critical,CA:FALSE",
    "keyUsage = critical,digitalSignature,keyEncipherment",
    `extendedKeyUsage = ${options.usage}`,
    ...(options.san === undefined ? [] : [`subjectAltName = ${options.san}`])
  ].join("\n") + "\n"
  Fs.writeFileSync(Path.join(ca.dir, `${name}.ext`), ext)
  openssl(["req", "-config", "req.cnf", "-new", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${options.cn}`], ca.dir)
  const now = Date.now()
  const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z"
  const [start, end] = options.dates ?? [stamp(now - 86_400_000), stamp(now + 2 * 86_400_000)]
  openssl([
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-cert",
    "ca.pem",
    "-keyfile",
    "ca.key",
    "-in",
    `${name}.csr`,
    "-out",
    `${name}.pem`,
    "-startdate",
    start,
    "-enddate",
    end,
    "-extfile",
    `${name}.ext`,
    "-extensions",
    "ext",
    "-notext"
  ], ca.dir)
  return { cert: Path.join(ca.dir, `${name}.pem`), key: Path.join(ca.dir, `${name}.key`) }
}

const layout = (dir: string, files: Record<string, string>): string => {
  Fs.mkdirSync(dir, { recursive: true })
  for (const [name, from] of Object.entries(files)) Fs.copyFileSync(from, Path.join(dir, name))
  return dir
}

/** The directories the TLS tests use. */
export interface Pki {
  readonly root: string
  /** Server directory for libvirtd or our server: cacert.pem, servercert.pem, serverkey.pem. */
  readonly server: string
  /** The same CA, a server certificate that has expired. */
  readonly expiredServer: string
  /** The same CA, a server certificate for the host name elsewhere.example only. */
  readonly wrongHostServer: string
  /** Client pkipath trusting the CA: cacert.pem, clientcert.pem, clientkey.pem. */
  readonly client: string
  /** Client pkipath trusting another CA. */
  readonly otherCaClient: string
  /** Client pkipath trusting the CA, with a client certificate issued by another CA. */
  readonly foreignClient: string
  /** Client pkipath without clientkey.pem. */
  readonly incompleteClient: string
}

/** Makes the CA, certificates and pkipath directories in a temporary directory (removed with the scope). */
export const makePki: Effect.Effect<Pki, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => {
    const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "keepalive-pki-"))
    const ca = makeCa(root, "ca")
    const other = makeCa(root, "other-ca")
    const server = issue(ca, "server", { cn: "127.0.0.1", usage: "serverAuth", san: "IP:127.0.0.1,DNS:localhost" })
    const expired = issue(ca, "expired", {
      cn: "127.0.0.1",
      usage: "serverAuth",
      san: "IP:127.0.0.1,DNS:localhost",
      dates: ["20200101000000Z", "20210101000000Z"]
    })
    const wrongHost = issue(ca, "wronghost", { cn: "elsewhere.example", usage: "serverAuth", san: "DNS:elsewhere.example" })
    const client = issue(ca, "client", { cn: "keepalive-client", usage: "clientAuth" })
    const foreign = issue(other, "foreign", { cn: "foreign-client", usage: "clientAuth" })
    const serverDir = (name: string, s: { cert: string; key: string }) =>
      layout(Path.join(root, name), { "cacert.pem": ca.cert, "servercert.pem": s.cert, "serverkey.pem": s.key })
    return {
      root,
      server: serverDir("server", server),
      expiredServer: serverDir("expired-server", expired),
      wrongHostServer: serverDir("wronghost-server", wrongHost),
      client: layout(Path.join(root, "client"), { "cacert.pem": ca.cert, "clientcert.pem": client.cert, "clientkey.pem": client.key }),
      otherCaClient: layout(Path.join(root, "other-client"), { "cacert.pem": other.cert, "clientcert.pem": client.cert, "clientkey.pem": client.key }),
      foreignClient: layout(Path.join(root, "foreign-client"), { "cacert.pem": ca.cert, "clientcert.pem": foreign.cert, "clientkey.pem": foreign.key }),
      incompleteClient: layout(Path.join(root, "incomplete-client"), { "cacert.pem": ca.cert, "clientcert.pem": client.cert })
    }
  }),
  (pki) => Effect.sync(() => Fs.rmSync(pki.root, { recursive: true, force: true }))
)
