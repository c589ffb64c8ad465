import { SessionManager } from "../src/index.js"
import { sessionManagerContract } from "./contract/sessionManagerContract.js"

sessionManagerContract("in-memory layer", (options) => SessionManager.layer(options))
