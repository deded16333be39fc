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
  let unpublish = () => {};
  try {
    if (options.publish) unpublish = writeInspectorRecord({ pid: process.pid, port: server.port, token: server.token, url: server.url });
  } catch (err) {
    await server.close(); // a record we cannot write must not leave a server listening
    throw err;
  }
  const handle = hub.attachSource((answer) => handle.receive(source.answer(answer)));
  const stop = source.connect((message) => handle.receive(message));
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

export interface KeptInspector {
  readonly url: () => string;
  readonly mode: AttachedInspector["mode"];
  close(): Promise<void>;
}

/**
 * attachInspector for a process whose approvals may be answered in the page: when the linked
 * `ironclaw inspect` goes away mid-run, it serves a page of its own (and says where) rather than
 * leave a waiting approval with nowhere to be answered. Closing waits for any attach under way.
 */
export async function keepInspector(source: InspectionSource, onServing: (url: string) => void): Promise<KeptInspector> {
  const first = await attachInspector(source);
  let current = first;
  let closed = false;
  let reattaching: Promise<void> = Promise.resolve();
  const watch = (attached: AttachedInspector) =>
    void attached.lost.then(() => {
      if (closed) return;
      reattaching = attachInspector(source).then(
        async (next) => {
          if (closed) return next.close();
          current = next;
          onServing(next.url);
          watch(next);
        },
        () => {}, // cannot serve either: the run goes on without a page
      );
    });
  watch(first);
  return {
    url: () => current.url,
    mode: first.mode,
    async close() {
      closed = true;
      await reattaching;
      await current.close();
    },
  };
}
