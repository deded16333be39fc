// `--inspect` on run, exec and up: report to the `ironclaw inspect` that is running, or, when
// none is, serve this process's own inspector for as long as it runs.
import type { InspectionSource } from "./inspection-source.ts";
import { createInspectorHub } from "./inspector-hub.ts";
import { linkToInspector } from "./inspector-link.ts";
import { readInspectorRecord } from "./inspector-record.ts";
import { startInspectorServer } from "./inspector-server.ts";

export interface AttachedInspector {
  readonly url: string;
  /** "linked": to a running `ironclaw inspect`; "serving": this process serves it. */
  readonly mode: "linked" | "serving";
  close(): Promise<void>;
}

/** The page of a running inspector (the record keeps the whole URL, token included). */
export async function attachInspector(source: InspectionSource, options: { port?: number } = {}): Promise<AttachedInspector> {
  const record = options.port === undefined ? readInspectorRecord() : null;
  if (record) {
    try {
      const link = await linkToInspector(source, record);
      return { url: record.url, mode: "linked", close: () => link.close() };
    } catch {
      // A record left by an inspector that no longer answers: serve our own.
    }
  }
  const hub = createInspectorHub();
  const server = await startInspectorServer(hub, options.port === undefined ? {} : { port: options.port });
  const handle = hub.attachSource((answer) => handle.receive(source.answer(answer)));
  const stop = source.connect((message) => handle.receive(message));
  return {
    url: server.url,
    mode: "serving",
    async close() {
      stop();
      handle.close();
      await server.close();
    },
  };
}
