// The inspector on the network: HTTP and WebSocket on loopback only, every request carrying the
// random token from the printed URL (anything else gets 401 and no data). It serves the page,
// and three sockets over one port:
//   /ws          a browser tab (UiMessage out, Answer in)
//   /ws/stately  @statelyai/inspect receivers (createWebSocketReceiver): Stately's event format
//   /ws/source   IronClaw processes reporting their actors (SourceMessage in, Answer out)
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import { WebSocketServer, type WebSocket } from "ws";
import { packageRoot } from "../../core/paths.ts";
import type { InspectorHub } from "./inspector-hub.ts";
import { decodeAnswer, decodeSourceMessage } from "./inspector-protocol.ts";
import { InspectorServerError } from "../../core/errors.ts";

export interface InspectorServer {
  /** The page, token included: what a human opens. */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  close(): Promise<void>;
}

/** The largest message in: a source's view of a pending approval carries its whole diff card. */
const MAX_MESSAGE = 64 * 1024 * 1024;
/**
 * What a watcher may leave unread before it is dropped (a frozen tab, a suspended receiver):
 * it reconnects and gets the whole current state, so nothing is lost but memory is bounded.
 */
export const MAX_UNREAD = 32 * 1024 * 1024;

const assets: Record<string, { file: () => string; type: string }> = {
  "/app.js": { file: () => join(packageRoot(), "dist", "inspector", "app.js"), type: "text/javascript; charset=utf-8" },
  "/app.css": { file: () => join(packageRoot(), "dist", "inspector", "app.css"), type: "text/css; charset=utf-8" },
  "/mermaid.min.js": { file: () => createRequire(import.meta.url).resolve("mermaid/dist/mermaid.min.js"), type: "text/javascript; charset=utf-8" },
};

const LOOPBACK = new Set(["127.0.0.1", "::1"]);

export async function startInspectorServer(hub: InspectorHub, options: { port?: number; host?: string } = {}): Promise<InspectorServer> {
  const host = options.host ?? "127.0.0.1";
  if (!LOOPBACK.has(host)) throw new InspectorServerError(`the inspector listens on loopback only (127.0.0.1 or ::1), not ${host}`);
  const token = randomBytes(24).toString("base64url");
  const tokenBytes = Buffer.from(token);
  const cache = new Map<string, Buffer>();

  const authorised = (req: IncomingMessage, url: URL) => {
    const given = Buffer.from(url.searchParams.get("token") ?? "");
    if (given.length !== tokenBytes.length || !timingSafeEqual(given, tokenBytes)) return false;
    // A page on another site that resolves its own name to 127.0.0.1 still sends its own Host.
    const hostHeader = (req.headers.host ?? "").replace(/:\d+$/, "");
    return ["127.0.0.1", "localhost", "[::1]"].includes(hostHeader);
  };

  const headers = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    // The token is in the URL: never send it on as a referrer.
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy":
      "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
  };

  const read = (key: string, file: string) => {
    let body = cache.get(key);
    if (!body) {
      body = readFileSync(file);
      cache.set(key, body);
    }
    return body;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (!authorised(req, url)) {
      res.writeHead(401, { ...headers, "content-type": "text/plain; charset=utf-8" }).end("401: open the URL IronClaw printed, with its token\n");
      return;
    }
    try {
      if (req.method === "GET" && url.pathname === "/") {
        const page = read("index.html", join(packageRoot(), "dist", "inspector", "index.html"))
          .toString("utf8")
          .replaceAll("%TOKEN%", token);
        res.writeHead(200, { ...headers, "content-type": "text/html; charset=utf-8" }).end(page);
        return;
      }
      const asset = assets[url.pathname];
      if (req.method === "GET" && asset) {
        res.writeHead(200, { ...headers, "content-type": asset.type }).end(read(url.pathname, asset.file()));
        return;
      }
      if (req.method === "GET" && url.pathname === "/api/state") {
        res.writeHead(200, { ...headers, "content-type": "application/json" }).end(JSON.stringify(hub.state()));
        return;
      }
      if (req.method === "POST" && url.pathname === "/api/answer") {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of req) {
          size += (chunk as Buffer).length;
          if (size > MAX_MESSAGE) return void res.writeHead(413, headers).end();
          chunks.push(chunk as Buffer);
        }
        const answer = decodeAnswer(Buffer.concat(chunks).toString("utf8"));
        if (!answer.ok) return void res.writeHead(400, { ...headers, "content-type": "text/plain" }).end(`not an answer: ${answer.error}\n`);
        const result = await hub.answer(answer.value);
        res.writeHead(result.ok ? 200 : 409, { ...headers, "content-type": "application/json" }).end(JSON.stringify(result));
        return;
      }
      res.writeHead(404, { ...headers, "content-type": "text/plain" }).end("not found\n");
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      res.writeHead(500, { ...headers, "content-type": "text/plain" }).end(missing ? "the inspector page is not built: run npm run build\n" : "internal error\n");
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE });
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  const json = (ws: WebSocket, message: unknown) => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_UNREAD) return void ws.terminate();
    ws.send(JSON.stringify(message));
  };

  const serveUi = (ws: WebSocket) => {
    const stop = hub.watch((m) => json(ws, m));
    ws.on("message", (data) => {
      const answer = decodeAnswer(data.toString());
      if (!answer.ok) return ws.close(1008, "not an answer");
      void hub.answer(answer.value).then((result) => json(ws, result));
    });
    ws.on("close", stop);
  };

  const serveStately = (ws: WebSocket) => {
    const stop = hub.watchStately((e) => json(ws, e));
    ws.on("close", stop);
  };

  const serveSource = (ws: WebSocket) => {
    const source = hub.attachSource((answer) => json(ws, answer));
    ws.on("message", (data) => {
      const message = decodeSourceMessage(data.toString());
      if (!message.ok) return ws.close(1008, `not a source message: ${message.error}`.slice(0, 120));
      source.receive(message.value);
    });
    ws.on("close", () => source.close());
  };

  const routes: Record<string, (ws: WebSocket) => void> = { "/ws": serveUi, "/ws/stately": serveStately, "/ws/source": serveSource };
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const route = routes[url.pathname];
    if (!authorised(req, url) || !route) {
      socket.end(`HTTP/1.1 ${route ? "401 Unauthorized" : "404 Not Found"}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => route(ws));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new InspectorServerError(
          err.code === "EADDRINUSE" ? `port ${options.port} is in use: pick another with --port, or 0 for any` : `cannot listen on ${host}:${options.port ?? 0}: ${err.message}`,
        ),
      ),
    );
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host === "::1" ? "[::1]" : host;

  return {
    url: `http://${shownHost}:${port}/?token=${token}`,
    port,
    token,
    async close() {
      // Watchers get everything already sent, then a close frame: a tab shows the last state.
      await Promise.all(
        [...wss.clients].map(
          (ws) =>
            new Promise<void>((resolve) => {
              const timer = setTimeout(() => {
                ws.terminate();
                resolve();
              }, 1000);
              ws.once("close", () => {
                clearTimeout(timer);
                resolve();
              });
              ws.close(1001, "the inspector stopped");
            }),
        ),
      );
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}
