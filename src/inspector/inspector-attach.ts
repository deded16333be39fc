// `--inspect` on run, exec and up: report to the `ironclaw inspect` that is running, or, when
// none is, serve this process's own inspector for as long as it runs.
import type { InspectionSource } from "./inspection-source.ts";
import { createInspectorHub } from "./inspector-hub.ts";
import { linkToInspector } from "./inspector-link.ts";
import { readInspectorRecord, writeInspectorRecord } from "./inspector-record.ts";
import { startInspectorServer } from "./inspector-server.ts";

export interface AttachedInspector {
  readonly url: string;
  /** "linked": to a running `ironclaw inspect`; "serving": this process serves it. */
  readonly mode: "linked" | "serving";
  /** Resolves if a linked inspector goes away while this process runs. */
  readonly lost: Promise<void>;
  close(): Promise<void>;
}

/**
 * `publish`: when this process serves, record it so that other processes report here too —
 * for long-lived processes only (the daemon), or they would link to a page about to vanish.
 */
export async function attachInspector(source: InspectionSource, options: { port?: number; publish?: boolean } = {}): Promise<AttachedInspector> {
  const record = options.port === undefined ? readInspectorRecord() : null;
  if (record) {
    try {
      const link = await linkToInspector(source, record);
      return { url: record.url, mode: "linked", lost: link.lost, close: () => link.close() };
    } catch {
      // A record left by an inspector that no longer answers: serve our own.
    }
  }
  const hub = createInspectorHub();
  const server = await startInspectorServer(hub, options.port === undefined ? {} : { port: options.port });
  const handle = hub.attachSource((answer) => handle.receive(source.answer(answer)));
  const stop = source.connect((message) => handle.receive(message));
  const unpublish = options.publish ? writeInspectorRecord({ pid: process.pid, port: server.port, token: server.token, url: server.url }) : () => {};
  return {
    url: server.url,
    mode: "serving",
    lost: new Promise(() => {}),
    async close() {
      unpublish();
      stop();
      handle.close();
      await server.close();
    },
  };
}
