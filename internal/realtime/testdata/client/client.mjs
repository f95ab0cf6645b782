// A Socket.IO test client for internal/realtime's tests: it connects with the real
// socket.io-client, prints every event it receives as one JSON line on stdout, and takes
// commands as JSON lines on stdin: {"emit": "join_session", "args": ["s1"], "ack": true}
// emits (with an acknowledgement callback when ack), {"quit": true} disconnects and exits.
//
// usage: node client.mjs <url> <token> [polling|websocket|both]
import { io } from "socket.io-client";
import readline from "node:readline";

const [url, token, mode = "both"] = process.argv.slice(2);
const transports = mode === "polling" ? ["polling"] : mode === "websocket" ? ["websocket"] : ["polling", "websocket"];
const out = (event, args) => process.stdout.write(JSON.stringify({ event, args }) + "\n");

const socket = io(url, { auth: { token }, transports, reconnection: false, timeout: 10000 });
socket.io.on("open", () => {
  const engine = socket.io.engine;
  out("open", [{ transport: engine.transport.name }]);
  engine.on("upgrade", (transport) => out("upgrade", [{ transport: transport.name }]));
});
socket.on("connect", () => out("connect", [{ transport: socket.io.engine.transport.name }]));
socket.on("connect_error", (err) => out("connect_error", [{ message: err.message, data: err.data ?? null }]));
socket.on("disconnect", (reason) => out("disconnect", [reason]));
socket.onAny((event, ...args) => out(event, args));

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.quit) {
    socket.close();
    process.exit(0);
  }
  if (cmd.ack) {
    socket.emit(cmd.emit, ...(cmd.args ?? []), (...answer) => out("ack:" + cmd.emit, answer));
  } else {
    socket.emit(cmd.emit, ...(cmd.args ?? []));
  }
});
lines.on("close", () => process.exit(0));
