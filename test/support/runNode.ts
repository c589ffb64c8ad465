/**
 * Runs a Node.js script in a child process without blocking the test worker: the worker's
 * event loop stays free to answer the test runner while the child works, however long it takes
 * on a busy machine.
 */
import { spawn } from "node:child_process"

export interface Run {
  /** The exit code, or null when the child was killed (by the timeout or a signal). */
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly cwd?: string
  readonly env?: NodeJS.ProcessEnv
  /** Kills the child after this many milliseconds (default 120 s). */
  readonly timeout?: number
}

/** Runs `command` with `args` and collects its output. */
export const runCommand = (
  command: string,
  args: ReadonlyArray<string>,
  options: RunOptions = {}
): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeout ?? 120_000)
    child.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once("close", (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })

/** Runs a TypeScript file with Node.js and tsx, with extra Node.js flags before it. */
export const runTs = (file: string, options: RunOptions & { readonly flags?: ReadonlyArray<string> } = {}) =>
  runCommand(process.execPath, [...(options.flags ?? []), "--import", "tsx", file], options)
