import { SessionManager } from "../src/index.js"
import { sessionManagerContract } from "./contract/sessionManagerContract.js"
import { sessionManagerModel } from "./contract/sessionManagerModel.js"

sessionManagerContract("in-memory layer", (options) => SessionManager.layer(options))

sessionManagerModel("in-memory layer", (options) => SessionManager.layer(options), 200)
