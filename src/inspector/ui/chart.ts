// One actor's statechart, drawn by mermaid, with its active states highlighted.
//
// Each machine's chart is drawn once (per Mermaid source) and kept; the highlight is put on by
// class afterwards, on the drawn SVG's state nodes: mermaid names each one's <g> after the
// source's node name (`<svg id>-state-<name>-<n>`; a composite state's cluster also carries
// data-id="<name>"), which src/diagram.ts makes the state node's id with dots as underscores,
// the same names ActorView.active lists. (mermaid 12 would also take `class <name> current` in the
// source, composite states included, but then every state change is a new layout: slower, and the
// chart would jump under the reader's eyes.) So a state change costs a few class changes.
//   ic-active   every active state node, composite ones included
//   ic-current  the active leaves (no active descendant): where the actor is
import { h, setAttr } from "./dom.ts";
import { leafNodes } from "./model.ts";

interface Mermaid {
  initialize(config: Record<string, unknown>): void;
  render(id: string, text: string): Promise<{ svg: string }>;
}

/** mermaid.min.js loads on its own (async, 5 MB): wait for it rather than delay the whole page. */
function loadMermaid(): Promise<Mermaid> {
  const ready = () => (globalThis as { mermaid?: Mermaid }).mermaid;
  return new Promise((resolve, reject) => {
    const now = ready();
    if (now) return resolve(now);
    const script = document.getElementById("mermaid-script");
    const fail = () => reject(new Error("mermaid.min.js did not load: charts cannot be drawn"));
    if (!script) return fail();
    script.addEventListener("load", () => {
      const m = ready();
      if (m) resolve(m);
      else fail();
    });
    script.addEventListener("error", fail);
  });
}

let mermaidReady: Promise<Mermaid> | null = null;
function getMermaid(): Promise<Mermaid> {
  mermaidReady ??= loadMermaid().then((m) => {
    m.initialize({
      startOnLoad: false,
      securityLevel: "strict",
      theme: "default",
      // Plain SVG <text> labels, not HTML in <foreignObject>: the output parses as XML below.
      htmlLabels: false,
      fontFamily: 'system-ui, "DejaVu Sans", "Segoe UI", sans-serif',
      // State names are long identifiers (vm_running_busy): wrapping them mid-word helps no one.
      state: { wrappingWidth: 1000 },
    });
    return m;
  });
  return mermaidReady;
}

// mermaid keeps global state while drawing: one render at a time.
let renderQueue: Promise<unknown> = Promise.resolve();
let renderSeq = 0;

/**
 * Draws `source` and returns the SVG as an element of this document. mermaid's output (already
 * sanitised by its strict mode) is parsed as XML, never as HTML, and anything active is removed.
 */
function draw(source: string): Promise<SVGSVGElement> {
  const run = async () => {
    const mermaid = await getMermaid();
    const id = `ic-chart-${++renderSeq}`;
    let svgText: string;
    try {
      svgText = (await mermaid.render(id, source)).svg;
    } finally {
      // On a syntax error mermaid may leave its scratch element behind.
      document.getElementById(`d${id}`)?.remove();
    }
    const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
    const root = doc.documentElement;
    if (doc.getElementsByTagName("parsererror").length || !(root instanceof SVGSVGElement)) throw new Error("mermaid's output is not well-formed SVG");
    for (const el of [...root.querySelectorAll("script, foreignObject, iframe, object, embed")]) el.remove();
    for (const el of [root, ...root.querySelectorAll("*")]) {
      for (const attr of [...el.attributes]) {
        const name = attr.name.toLowerCase();
        if (name.startsWith("on") || ((name === "href" || name === "xlink:href") && !attr.value.startsWith("#"))) el.removeAttribute(attr.name);
      }
    }
    const svg = document.importNode(root, true);
    indexStateNodes(svg, id);
    // Natural size from the viewBox; the "fit" view scales it with CSS.
    const box = svg.viewBox.baseVal;
    svg.removeAttribute("style");
    if (box && box.width > 0) {
      svg.setAttribute("width", String(Math.ceil(box.width)));
      svg.setAttribute("height", String(Math.ceil(box.height)));
    }
    return svg;
  };
  const result = renderQueue.then(run, run);
  renderQueue = result.catch(() => {});
  return result;
}

/** Marks each state node's <g> with data-state-node="<chart node name>". */
function indexStateNodes(svg: SVGSVGElement, id: string) {
  const pattern = new RegExp(`^${id}-state-(.+)-\\d+$`);
  for (const g of svg.querySelectorAll("g[id], g[data-id]")) {
    const name = g.getAttribute("data-id") ?? pattern.exec(g.id)?.[1];
    if (name && (g.classList.contains("node") || g.classList.contains("statediagram-cluster") || g.classList.contains("cluster"))) g.setAttribute("data-state-node", name);
  }
}

interface Wanted {
  machine: string;
  source: string | undefined;
  active: readonly string[];
}

export class Chart {
  /** Drawn charts by machine id, with the source they were drawn from. */
  private readonly drawn = new Map<string, { source: string; svg: Promise<SVGSVGElement> }>();
  private mounted: { machine: string; source: string; svg: SVGSVGElement } | null = null;
  private highlighted = "";
  private wanted: Wanted | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;

  readonly el: HTMLElement;

  constructor(el: HTMLElement) {
    this.el = el;
  }

  /** Asks for `machine`'s chart with `active` lit; coalesced, so a burst of changes draws once. */
  show(machine: string | null, source: string | undefined, active: readonly string[]) {
    this.wanted = machine === null ? null : { machine, source, active };
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.update();
    }, 30);
  }

  private async update() {
    const wanted = this.wanted;
    if (!wanted) {
      this.unmount();
      this.el.replaceChildren(h("div", { class: "muted chart-note" }, "No actor selected."));
      return;
    }
    if (wanted.source === undefined) {
      this.unmount();
      this.el.replaceChildren(h("div", { class: "muted chart-note" }, `No chart for machine “${wanted.machine}” yet.`));
      return;
    }
    if (!this.mounted || this.mounted.machine !== wanted.machine || this.mounted.source !== wanted.source) {
      let entry = this.drawn.get(wanted.machine);
      if (!entry || entry.source !== wanted.source) this.drawn.set(wanted.machine, (entry = { source: wanted.source, svg: draw(wanted.source) }));
      if (!this.mounted) this.el.replaceChildren(h("div", { class: "muted chart-note" }, "Drawing…"));
      let svg: SVGSVGElement;
      try {
        svg = await entry.svg;
      } catch (error) {
        if (this.wanted?.machine !== wanted.machine || this.wanted.source !== wanted.source) return;
        this.unmount();
        this.el.replaceChildren(
          h("div", { class: "chart-error" }, `Cannot draw the chart of “${wanted.machine}”: ${error instanceof Error ? error.message : String(error)}`),
          h("pre", { class: "json" }, wanted.source),
        );
        return;
      }
      // Something else was asked for while this one was drawn: that request redraws.
      if (this.wanted?.machine !== wanted.machine || this.wanted.source !== wanted.source) return;
      const copy = svg.cloneNode(true) as SVGSVGElement;
      this.el.replaceChildren(copy);
      this.mounted = { machine: wanted.machine, source: wanted.source, svg: copy };
      this.highlighted = "";
      setAttr(this.el, "data-machine", wanted.machine);
    }
    this.highlight((this.wanted ?? wanted).active);
  }

  private unmount() {
    this.mounted = null;
    this.highlighted = "";
    setAttr(this.el, "data-machine", null);
    setAttr(this.el, "data-active", null);
    setAttr(this.el, "data-current", null);
  }

  private highlight(active: readonly string[]) {
    const mounted = this.mounted;
    if (!mounted) return;
    const key = active.join(" ");
    if (key === this.highlighted) return;
    this.highlighted = key;
    const all = new Set(active);
    const leaves = new Set(leafNodes(active));
    let first: Element | null = null;
    for (const g of mounted.svg.querySelectorAll("[data-state-node]")) {
      const name = g.getAttribute("data-state-node")!;
      g.classList.toggle("ic-active", all.has(name));
      g.classList.toggle("ic-current", leaves.has(name));
      if (leaves.has(name)) first ??= g;
    }
    setAttr(this.el, "data-active", key);
    setAttr(this.el, "data-current", [...leaves].join(" "));
    if (first) this.reveal(first);
  }

  /** Scrolls the chart box (only it, not the page) so the current state is in view. */
  private reveal(node: Element) {
    const box = this.el.getBoundingClientRect();
    const r = node.getBoundingClientRect();
    if (r.top < box.top || r.bottom > box.bottom) this.el.scrollTop += r.top - box.top - (box.height - r.height) / 2;
    if (r.left < box.left || r.right > box.right) this.el.scrollLeft += r.left - box.left - (box.width - r.width) / 2;
  }
}
