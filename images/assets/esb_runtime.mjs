// esb's Node.js runtime interface client: Lambda's Runtime API loop, for esb's Node.js base images.
//
// AWS's client (aws-lambda-ric) is only on npm, which esb's machines do not reach, so esb carries
// this one, written against the documented Runtime API (2018-06-01): GET invocation/next, POST
// invocation/<id>/response and /error, POST init/error, and the Lambda-Runtime-* headers. It runs
// under RIE like awslambdaric does in the Python base: RIE serves the API on AWS_LAMBDA_RUNTIME_API.
//
// What it does as Lambda's Node.js runtime does:
// - loads the handler from _HANDLER (`src/app.handler`: file src/app.{js,mjs,cjs} under
//   LAMBDA_TASK_ROOT, export `handler`), as an ES module or CommonJS (through import(), which
//   takes both); init failures are Runtime.ImportModuleError, Runtime.UserCodeSyntaxError or
//   Runtime.HandlerNotFound, posted to init/error;
// - calls async handlers and callback handlers (three parameters), with Lambda's context object;
// - reports thrown errors, rejected promises and uncaught exceptions with Lambda's shape
//   ({errorType, errorMessage, trace}); an uncaught exception ends the process after reporting;
// - prints console.* lines as Lambda does: `<ISO time>\t<request id>\t<LEVEL>\t<message>`, a
//   multi-line message kept on one line (newlines become \r);
// - sets _X_AMZN_TRACE_ID from Lambda-Runtime-Trace-Id, or from the client context's custom
//   `X-Amzn-Trace-Id`, where esb puts its trace id because RIE drops the header.
// - runs response-streaming handlers (awslambda.streamifyResponse, awslambda.HttpResponseStream)
//   buffered: RIE answers an invocation with one body, so the stream's bytes are collected and
//   sent whole when it ends (with HttpResponseStream's status and headers as a proxy response).

import http from "node:http";
import { Writable } from "node:stream";
import path from "node:path";
import fs from "node:fs";
import util from "node:util";
import { pathToFileURL } from "node:url";

const API = process.env.AWS_LAMBDA_RUNTIME_API || "127.0.0.1:9001";
const [HOST, PORT] = API.includes(":") ? API.split(":") : [API, "80"];
const ROOT = process.env.LAMBDA_TASK_ROOT || "/var/task";
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let current = null; // the request id being served

function call(method, route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      { host: HOST, port: Number(PORT), method, path: `/2018-06-01/runtime/${route}`, agent,
        headers: { ...headers, ...(data ? { "Content-Type": "application/json", "Content-Length": data.length } : {}) } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

function errorShape(err) {
  if (err instanceof Error) {
    return { errorType: err.name || "Error", errorMessage: err.message, trace: String(err.stack || "").split("\n") };
  }
  if (err !== null && typeof err === "object") {
    return { errorType: err.name || "Error", errorMessage: err.message || JSON.stringify(err), trace: [] };
  }
  return { errorType: typeof err, errorMessage: String(err), trace: [] };
}

function postError(route, shape) {
  return call("POST", route, JSON.stringify(shape), { "Lambda-Runtime-Function-Error-Type": shape.errorType });
}

// console.* as Lambda prints it.
function patchConsole() {
  const levels = { log: "INFO", info: "INFO", warn: "WARN", error: "ERROR", debug: "DEBUG", trace: "TRACE" };
  for (const [name, level] of Object.entries(levels)) {
    console[name] = (...args) => {
      const text = util.format(...args).replace(/\n/g, "\r");
      process.stdout.write(`${new Date().toISOString()}\t${current || "undefined"}\t${level}\t${text}\n`);
    };
  }
}

class ImportModuleError extends Error { constructor(m) { super(m); this.name = "Runtime.ImportModuleError"; } }
class HandlerNotFound extends Error { constructor(m) { super(m); this.name = "Runtime.HandlerNotFound"; } }
class UserCodeSyntaxError extends Error { constructor(m) { super(m); this.name = "Runtime.UserCodeSyntaxError"; } }

async function loadHandler() {
  const spec = process.env._HANDLER || "";
  const dot = spec.lastIndexOf(".");
  if (dot < 1) throw new HandlerNotFound(`Bad handler ${spec}: it must be file.function, e.g. index.handler`);
  const [modulePath, name] = [spec.slice(0, dot), spec.slice(dot + 1)];
  const file = ["", ".js", ".mjs", ".cjs"].map((ext) => path.resolve(ROOT, modulePath + ext)).find((f) => ext(f) && isFile(f));
  if (!file) throw new ImportModuleError(`Error: Cannot find module '${modulePath}'`);
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(`${e.name}: ${e.message}`);
    if (e && (e.code === "ERR_MODULE_NOT_FOUND" || e.code === "MODULE_NOT_FOUND")) throw new ImportModuleError(`Error: ${e.message}`);
    throw e;
  }
  // A nested name (`handler.inner`) walks the export.
  let fn = name.split(".").reduce((o, k) => (o == null ? undefined : o[k]), mod);
  if (typeof fn !== "function" && mod.default) fn = name.split(".").reduce((o, k) => (o == null ? undefined : o[k]), mod.default);
  if (typeof fn !== "function") throw new HandlerNotFound(`${modulePath}.${name} is undefined or not exported`);
  return fn;
}

function ext(f) {
  return [".js", ".mjs", ".cjs"].includes(path.extname(f));
}

function isFile(f) {
  try { return fs.statSync(f).isFile(); } catch { return false; }
}

function contextFor(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] || Date.now() + 3000);
  const parse = (h) => { try { return h ? JSON.parse(h) : undefined; } catch { return undefined; } };
  const clientContext = parse(headers["lambda-runtime-client-context"]);
  const identity = parse(headers["lambda-runtime-cognito-identity"]);
  return {
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION || "$LATEST",
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext,
    identity,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function traceId(headers, context) {
  return headers["lambda-runtime-trace-id"] || context.clientContext?.custom?.["X-Amzn-Trace-Id"];
}

function run(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err); else resolve(result);
    };
    context.done = done;
    context.succeed = (r) => done(null, r);
    context.fail = (e) => done(e ?? new Error("handled"));
    try {
      const out = handler.length >= 3 ? handler(event, context, done) : handler(event, context);
      if (out && typeof out.then === "function") out.then((r) => done(null, r), (e) => done(e ?? new Error("rejected")));
      else if (handler.length < 3) done(null, out);
    } catch (e) {
      done(e);
    }
  });
}

// The bytes of a streamed response, posted as they are (not as JSON).
const RAW = Symbol("esb.raw");

// A response stream that keeps what is written, for streamifyResponse handlers.
class BufferedResponseStream extends Writable {
  constructor() {
    super();
    this.chunks = [];
    this.contentType = undefined;
    this.prelude = undefined;
  }
  _write(chunk, encoding, callback) {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding));
    callback();
  }
  setContentType(type) {
    this.contentType = type;
  }
  result() {
    const body = Buffer.concat(this.chunks);
    if (!this.prelude) return { [RAW]: body };
    // HttpResponseStream.from: a function URL / HTTP API response with the prelude's status.
    const { statusCode = 200, headers = {}, cookies } = this.prelude;
    const text = body.toString("utf8");
    const binary = !Buffer.from(text, "utf8").equals(body);
    return { statusCode, headers: { ...(this.contentType ? { "content-type": this.contentType } : {}), ...headers },
      ...(cookies ? { cookies } : {}), body: binary ? body.toString("base64") : text, isBase64Encoded: binary };
  }
}

globalThis.awslambda = {
  streamifyResponse(fn) {
    // Two parameters, so `run` treats it as an async handler.
    return async (event, context) => {
      const stream = new BufferedResponseStream();
      const finished = new Promise((resolve, reject) => { stream.on("finish", resolve); stream.on("error", reject); });
      await fn(event, stream, context);
      if (!stream.writableEnded) stream.end();
      await finished;
      return stream.result();
    };
  },
  HttpResponseStream: {
    from(stream, prelude) {
      stream.prelude = prelude || {};
      return stream;
    },
  },
};

// `esb invoke -d PORT` sets ESB_DEBUG_PORT: open the inspector there and wait for a debugger
// before the handler's module loads, so its breakpoints bind from the first line.
async function debuggerFromEnv() {
  const port = Number(process.env.ESB_DEBUG_PORT || 0);
  if (!port) return;
  const inspector = await import("node:inspector");
  process.stderr.write(`esb: Node.js inspector on port ${port}, waiting for a debugger to attach\n`);
  inspector.open(port, "0.0.0.0", true);
}

async function main() {
  patchConsole();
  await debuggerFromEnv();
  let handler;
  try {
    handler = await loadHandler();
  } catch (e) {
    const shape = errorShape(e);
    console.error(`${shape.errorType}: ${shape.errorMessage}`);
    await postError("init/error", shape).catch(() => {});
    process.exit(1);
  }
  process.on("uncaughtException", async (e) => {
    const shape = errorShape(e);
    console.error(`Uncaught Exception\t${JSON.stringify(shape)}`);
    if (current) await postError(`invocation/${current}/error`, shape).catch(() => {});
    process.exit(129);
  });
  process.on("unhandledRejection", async (reason) => {
    const shape = { ...errorShape(reason), errorType: "Runtime.UnhandledPromiseRejection" };
    console.error(`Unhandled Promise Rejection\t${JSON.stringify(shape)}`);
    if (current) await postError(`invocation/${current}/error`, shape).catch(() => {});
    process.exit(128);
  });
  for (;;) {
    const next = await call("GET", "invocation/next");
    const context = contextFor(next.headers);
    current = context.awsRequestId;
    const trace = traceId(next.headers, context);
    if (trace) process.env._X_AMZN_TRACE_ID = trace; else delete process.env._X_AMZN_TRACE_ID;
    let event;
    try {
      event = next.body ? JSON.parse(next.body) : {};
    } catch (e) {
      await postError(`invocation/${current}/error`, { errorType: "Runtime.UnmarshalError", errorMessage: String(e.message), trace: [] });
      continue;
    }
    try {
      const result = await run(handler, event, context);
      const body = result && result[RAW] ? result[RAW] : JSON.stringify(result === undefined ? null : result);
      await call("POST", `invocation/${current}/response`, body);
    } catch (e) {
      const shape = errorShape(e);
      console.error(`Invoke Error \t${JSON.stringify(shape)}`);
      await postError(`invocation/${current}/error`, shape);
    }
    current = null;
  }
}

main().catch((e) => {
  process.stderr.write(`esb runtime client failed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
