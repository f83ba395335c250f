import { fileURLToPath } from "node:url"
import { sleep, spawnChild } from "./util.ts"
const PEER = fileURLToPath(new URL("./scale-peer.ts", import.meta.url))
const impl = process.argv[2]!
const common = ["--impl", impl, "--interval", "5000", "--count", "5"]
const server = spawnChild(PEER, ["--role", "server", ...common], ["--expose-gc"])
const client = spawnChild(PEER, ["--role", "client", ...common], ["--expose-gc"])
const { port } = await server.next<{ port: number }>("listening")
await client.next("started")
const f = (m: any) => Object.fromEntries(Object.entries(m.memory).map(([k, v]) => [k, Math.round((v as number) / 2**20)]))
console.log("base", f(await server.ask("memory")), f(await client.ask("memory")))
await client.ask("connect", { port, connections: 2000, batch: 200 })
console.log("after", f(await server.ask("memory")), f(await client.ask("memory")))
await sleep(12000)
console.log("12s", f(await server.ask("memory")), f(await client.ask("memory")))
await server.kill(); await client.kill()
