import { assert, describe, it } from "@effect/vitest"
import * as ForeignProtocol from "../../src/wire/ForeignProtocol.ts"
import * as Frame from "../../src/wire/Frame.ts"
import * as Remote from "../../src/wire/RemoteProtocol.ts"

const text = (s: string) => new TextEncoder().encode(s)
const bytes = (...b: ReadonlyArray<number>) => new Uint8Array(b)

describe("ForeignProtocol: naming a peer that speaks something else, from its first bytes", () => {
  it("an SSH banner, quoted up to the end of its line", () => {
    const foreign = ForeignProtocol.recognize(text("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"))
    assert.deepStrictEqual(foreign, { protocol: "ssh", what: "an SSH banner", sample: "SSH-2.0-OpenSSH_9.2p1 Debian-2" })
    assert.strictEqual(
      ForeignProtocol.describe(foreign!),
      "the peer does not speak libvirt's protocol: it sent an SSH banner 'SSH-2.0-OpenSSH_9.2p1 Debian-2'"
    )
  })

  it("HTTP: a response (a web server answering our frame) and a request (a browser at our server)", () => {
    assert.deepStrictEqual(ForeignProtocol.recognize(text("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")), {
      protocol: "http",
      what: "an HTTP response",
      sample: "HTTP/1.1 400 Bad Request"
    })
    for (const method of ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"]) {
      assert.deepStrictEqual(ForeignProtocol.recognize(text(`${method} / HTTP/1.1\r\nHost: x\r\n\r\n`))?.what, "an HTTP request", method)
    }
    assert.strictEqual(ForeignProtocol.recognize(text("PRI * HTTP/2.0\r\n"))?.protocol, "http")
  })

  it("TLS records, shown in hex: a ClientHello at a plain server, an alert back to plain bytes", () => {
    const hello = bytes(0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03)
    assert.deepStrictEqual(ForeignProtocol.recognize(hello), { protocol: "tls", what: "a TLS ClientHello", sample: "16 03 01 02 00 01 00 01 …" })
    const alert = bytes(0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46)
    assert.deepStrictEqual(ForeignProtocol.recognize(alert), { protocol: "tls", what: "a TLS alert", sample: "15 03 03 00 02 02 46" })
    assert.strictEqual(
      ForeignProtocol.describe(ForeignProtocol.recognize(alert)!),
      "the peer does not speak libvirt's protocol: it sent a TLS alert (15 03 03 00 02 02 46)"
    )
    // not a TLS version: not TLS
    assert.isUndefined(ForeignProtocol.recognize(bytes(0x16, 0x07, 0x01, 0x00)))
  })

  it("text banners (SMTP, FTP, POP3, IMAP) and other text; long lines are cut at 80 characters", () => {
    assert.deepStrictEqual(ForeignProtocol.recognize(text("220 mail.example.org ESMTP Postfix\r\n")), {
      protocol: "text",
      what: "a text banner",
      sample: "220 mail.example.org ESMTP Postfix"
    })
    assert.strictEqual(ForeignProtocol.recognize(text("220-FTP server ready\r\n"))?.what, "a text banner")
    assert.strictEqual(ForeignProtocol.recognize(text("+OK POP3 ready\r\n"))?.what, "a text banner")
    assert.strictEqual(ForeignProtocol.recognize(text("* OK IMAP4rev1\r\n"))?.what, "a text banner")
    assert.deepStrictEqual(ForeignProtocol.recognize(text("hello there\n")), { protocol: "text", what: "text", sample: "hello there" })
    const long = ForeignProtocol.recognize(text("x".repeat(200)))
    assert.strictEqual(long?.sample, `${"x".repeat(80)}…`)
  })

  it("never a libvirt stream: every valid length word starts with 0, 1 or 2; nor binary junk or nothing", () => {
    assert.isUndefined(ForeignProtocol.recognize(Frame.PING_BYTES))
    assert.isUndefined(ForeignProtocol.recognize(Frame.encode(Frame.make(Remote.callHeader(Remote.RemoteProc.AuthList, 0)))))
    for (const first of [0, 1, 2]) assert.isUndefined(ForeignProtocol.recognize(bytes(first, 0x41, 0x42, 0x43, 0x44)))
    assert.isUndefined(ForeignProtocol.recognize(bytes(0xff, 0xff, 0xff, 0xff)))
    assert.isUndefined(ForeignProtocol.recognize(bytes(0x41, 0x00, 0x01)))
    assert.isUndefined(ForeignProtocol.recognize(new Uint8Array(0)))
    assert.isUndefined(ForeignProtocol.recognize(undefined))
  })

  it("keep gathers the stream's first 128 bytes across chunks, copying them, then stops", () => {
    const chunk = text("SSH-2.0-")
    let head = ForeignProtocol.keep(undefined, chunk)
    chunk.fill(0)
    head = ForeignProtocol.keep(head, text("OpenSSH\r\n"))
    assert.strictEqual(new TextDecoder().decode(head), "SSH-2.0-OpenSSH\r\n")
    const full = ForeignProtocol.keep(head, new Uint8Array(500))
    assert.strictEqual(full.length, ForeignProtocol.HEAD_BYTES)
    assert.strictEqual(ForeignProtocol.keep(full, text("more")), full)
  })
})
