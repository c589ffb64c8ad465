/**
 * Starts a private redis-server for the tests: on a free loopback port, without persistence,
 * stopped afterwards. When redis-server is not on PATH the Redis tests are skipped, except
 * under CI=true, where they fail.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { createConnection, createServer } from "node:net"

export const redisServerAvailable: boolean = spawnSync("redis-server", ["--version"]).status === 0

export const MISSING_REDIS =
  "redis-server is not on PATH, so the Redis tests are skipped. Install it (Debian/Ubuntu: " +
  "apt-get install -y redis-server; macOS: brew install redis) to run them; under CI=true they fail instead."

/** Whether the Redis suites run: yes when redis-server exists, and always under CI. */
export const runRedisTests: boolean = redisServerAvailable || process.env.CI === "true"

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject()))
    })
  })

const answersPing = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port })
    let reply = ""
    socket.once("error", () => resolve(false))
    socket.on("data", (data) => {
      reply += data.toString()
      if (reply.includes("\r\n")) {
        socket.destroy()
        resolve(reply.startsWith("+PONG"))
      }
    })
    socket.once("connect", () => socket.write("PING\r\n"))
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** Stops the server (SIGKILL when it will not stop). */
  readonly stop: () => Promise<void>
  /** Starts it again on the same port, empty. */
  readonly start: () => Promise<void>
}

export const startRedis = async (): Promise<RedisServer> => {
  if (!redisServerAvailable) throw new Error(MISSING_REDIS)
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async () => {
    child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory-policy",
        "noeviction"
      ],
      { stdio: "ignore" }
    )
    for (let i = 0; i < 100; i++) {
      if (await answersPing(port)) return
      await sleep(50)
    }
    throw new Error(`redis-server did not answer on port ${port}`)
  }
  const stop = async () => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once("exit", resolve))
    running.kill("SIGKILL")
    await exited
  }
  await start()
  return { port, url: `redis://127.0.0.1:${port}`, stop, start }
}
