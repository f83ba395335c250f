import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Uri from "../../src/runtime/Uri.ts"

const ok = (text: string): Uri.Uri => {
  const r = Uri.parse(text)
  if (Result.isFailure(r)) assert.fail(`${text}: ${r.failure.message}`)
  return r.success
}

type Expected = Partial<Pick<Uri.Uri, "driver" | "transport" | "user" | "host" | "port" | "path" | "name">> & {
  readonly dial?: string
  readonly params?: Partial<Uri.Params>
}

// libvirt's documented examples (docs/uri.rst, docs/remote.rst) and the URIs of the issue, with what they mean.
const table: ReadonlyArray<readonly [string, Expected]> = [
  ["xen+ssh://rjones@towada/system", {
    driver: "xen",
    transport: "ssh",
    user: "rjones",
    host: "towada",
    path: "/system",
    name: "xen:///system",
    dial: "towada:ssh"
  }],
  ["xen://towada/system", { transport: "tls", host: "towada", name: "xen:///system", dial: "towada:16514" }],
  ["xen://towada/system?no_verify=1", { transport: "tls", params: { noVerify: true }, dial: "towada:16514" }],
  ["qemu+unix:///system?socket=/opt/libvirt/run/libvirt/libvirt-sock", {
    transport: "unix",
    host: undefined,
    name: "qemu:///system",
    params: { socket: "/opt/libvirt/run/libvirt/libvirt-sock" }
  }],
  ["test+tcp://localhost:5000/default", { driver: "test", transport: "tcp", host: "localhost", port: 5000, name: "test:///default", dial: "localhost:5000" }],
  ["qemu://compute1.libvirt.org/system", { transport: "tls", host: "compute1.libvirt.org", dial: "compute1.libvirt.org:16514" }],
  ["qemu+ssh://root@host/system", { transport: "ssh", user: "root", host: "host", name: "qemu:///system" }],
  ["qemu+tls://host/system", { transport: "tls", dial: "host:16514" }],
  ["qemu+tcp://host/system", { transport: "tcp", dial: "host:16509" }],
  ["qemu+tcp:///system", { transport: "tcp", host: undefined, dial: "localhost:16509" }],
  ["qemu:///system", { transport: "unix", host: undefined, name: "qemu:///system" }],
  ["qemu:///session", { transport: "unix", name: "qemu:///session" }],
  ["test:///default", { transport: "unix", name: "test:///default" }],
  ["test+tcp://127.0.0.1:16599/default", { host: "127.0.0.1", port: 16599, name: "test:///default" }],
  ["test+tls://127.0.0.1:16514/default?pkipath=/tmp/pki/client", { transport: "tls", params: { pkipath: "/tmp/pki/client" } }],
  ["qemu+ssh://user@host:2222/system?keyfile=/root/.ssh/example_key&netcat=/opt/netcat/bin/nc&no_tty=1", {
    transport: "ssh",
    port: 2222,
    dial: "host:2222",
    params: { keyfile: "/root/.ssh/example_key", netcat: "/opt/netcat/bin/nc", noTty: true }
  }],
  ["qemu+ssh://host/system?command=/opt/openssh/bin/ssh", { params: { command: "/opt/openssh/bin/ssh" } }],
  ["qemu+ext:///system?command=/usr/local/bin/tunnel", { transport: "ext", params: { command: "/usr/local/bin/tunnel" } }],
  ["qemu+ssh://host/system?mode=direct&proxy=native", { params: { mode: "direct", proxy: "native" } }],
  ["remote://host/", { driver: "remote", transport: "tls", name: undefined }],
  ["qemu://host/system?name=qemu:///embed", { name: "qemu:///embed" }],
  ["qemu+TCP://[::1]:16509/system", { transport: "tcp", host: "::1", port: 16509, dial: "::1:16509" }],
  ["qemu+unix:///system?socket=/run/my%20dir/sock", { params: { socket: "/run/my dir/sock" } }],
  ["qemu+unix:///system?socket=/run/a+b", { params: { socket: "/run/a+b" } }],
  ["qemu+tls://host/system?no_verify=0&no_verify=2", { params: { noVerify: true } }],
  ["qemu+ssh://us%40er@host/system", { user: "us@er" }]
]

describe("Uri.parse: libvirt's documented URIs", () => {
  for (const [text, expected] of table) {
    it(text, () => {
      const uri = ok(text)
      const { dial, params, ...fields } = expected
      for (const [key, value] of Object.entries(fields)) assert.deepStrictEqual(uri[key as keyof typeof fields], value, key)
      for (const [key, value] of Object.entries(params ?? {})) assert.deepStrictEqual(uri.params[key as keyof Uri.Params], value, `params.${key}`)
      if (dial !== undefined) assert.strictEqual(`${Uri.host(uri)}:${Uri.port(uri) ?? "ssh"}`, dial)
    })
  }
})

const bad: ReadonlyArray<readonly [string, Uri.UriError["_tag"], string]> = [
  ["qemu:///system?bogus=1", "UnknownParameter", `"bogus"`],
  ["qemu+tls://host/system?tls_priority=NORMAL", "UnknownParameter", `"tls_priority"`],
  ["qemu+ssh://host/system?known_hosts=/k", "UnknownParameter", `"known_hosts"`],
  ["qemu+gopher://host/system", "UnknownTransport", `"gopher"`],
  ["qemu+libssh2://host/system", "UnknownTransport", "+ssh"],
  ["qemu+ext:///system", "MissingParameter", `"command"`],
  ["qemu+tls://host/system?no_verify=yes", "InvalidParameter", "no_verify"],
  ["qemu+ssh://host/system?no_tty=", "InvalidParameter", "no_tty"],
  ["qemu+ssh://host/system?proxy=telnet", "InvalidParameter", "proxy"],
  ["qemu+unix:///system?socket=", "InvalidParameter", "socket"],
  ["qemu+unix:///system?socket=%zz", "InvalidParameter", "percent"],
  ["qemu+unix://host/system", "InvalidUri", "local"],
  ["qemu+tcp://host:0/system", "InvalidUri", "port"],
  ["qemu+tcp://host:99999/system", "InvalidUri", "port"],
  ["qemu+tcp://host:ssh/system", "InvalidUri", "port"],
  ["qemu+://host/system", "InvalidUri", "empty transport"],
  ["qemu:/system", "InvalidUri", "driver[+transport]://"],
  ["not a uri", "InvalidUri", "driver[+transport]://"],
  ["", "InvalidUri", "driver[+transport]://"]
]

describe("Uri.parse: every bad input is a typed error naming what is wrong", () => {
  for (const [text, tag, mention] of bad) {
    it(`${JSON.stringify(text)} → ${tag}`, () => {
      const r = Uri.parse(text)
      assert.isTrue(Result.isFailure(r))
      if (Result.isSuccess(r)) return
      assert.strictEqual(r.failure._tag, tag)
      assert.include(r.failure.message, mention)
    })
  }
})

describe("Uri: default sockets and the ssh command line", () => {
  it("default sockets: libvirtd's system socket, read-only, per-driver daemon, session", () => {
    assert.strictEqual(Uri.defaultSocket(ok("qemu:///system")), "/var/run/libvirt/libvirt-sock")
    assert.strictEqual(Uri.defaultSocket(ok("qemu:///system"), { readOnly: true }), "/var/run/libvirt/libvirt-sock-ro")
    assert.strictEqual(Uri.defaultSocket(ok("qemu:///system?mode=direct")), "/var/run/libvirt/virtqemud-sock")
    assert.strictEqual(Uri.defaultSocket(ok("qemu:///session"), { runtimeDir: "/run/user/1000" }), "/run/user/1000/libvirt/libvirt-sock")
  })

  it("ssh: port, user, key, batch mode, host-key policy, then nc -U on the far side", () => {
    const uri = ok("qemu+ssh://virt@host:2222/system?keyfile=/k/id&no_tty=1&no_verify=1&socket=/run/s%20s")
    const cmd = Result.getOrThrow(Uri.sshCommand(uri, ["-o", "UserKnownHostsFile=/dev/null"]))
    assert.strictEqual(cmd.command, "ssh")
    assert.deepStrictEqual(cmd.args.slice(0, -1), [
      "-p",
      "2222",
      "-l",
      "virt",
      "-i",
      "/k/id",
      "-T",
      "-e",
      "none",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "--",
      "host"
    ])
    const remote = cmd.args.at(-1)!
    assert.match(remote, /^sh -c '/)
    assert.include(remote, "-U '\\''/run/s s'\\''")
  })

  it("ssh: proxy=native runs virt-ssh-helper with the connection name; auto falls back to netcat", () => {
    assert.strictEqual(Result.getOrThrow(Uri.remoteScript(ok("qemu+ssh://h/system?proxy=native"))), "exec virt-ssh-helper qemu:///system")
    const auto = Result.getOrThrow(Uri.remoteScript(ok("qemu+ssh://h/system?netcat=/opt/nc")))
    assert.include(auto, "virt-ssh-helper qemu:///system")
    assert.include(auto, "/opt/nc $ARG -U /var/run/libvirt/libvirt-sock")
  })

  it("ssh: a NUL in a value is refused, not passed to a shell", () => {
    const r = Uri.sshCommand(ok("qemu+ssh://h/system?socket=/a%00b"))
    assert.isTrue(Result.isFailure(r))
  })
})
