/** The test-runner side of redisServer.ts (kept apart so that the benchmark can use that one). */
import { afterAll, beforeAll } from "@effect/vitest"
import { type RedisServer, startRedis } from "./redisServer.js"
/** A private server for the enclosing describe block: started before its tests, stopped after. */
export const useRedisServer = (): (() => RedisServer) => {
  let server: RedisServer | undefined
  beforeAll(async () => {
    server = await startRedis()
  })
  afterAll(async () => {
    await server?.stop()
  })
  return () => {
    if (server === undefined) throw new Error("the Redis server is not started yet")
    return server
  }
}
