// Building DOM without ever parsing data as HTML: every string becomes a text node or an
// attribute value, so nothing the hub (or a process it listens to) sends can become markup.
import { splitInvisible } from "./model.ts";

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

/** h("div", { class: "x", "data-testid": "y", onclick: f }, "text", child …) */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Text with invisible and control characters shown as marked escapes (`\u202e`). */
export function visibleText(text: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  for (const part of splitInvisible(text)) {
    fragment.append(part.escaped ? h("span", { class: "esc", title: "invisible or control character" }, part.text) : document.createTextNode(part.text));
  }
  return fragment;
}

/** Sets an attribute only when it differs (a redraw must not disturb what has not changed). */
export function setAttr(el: Element, name: string, value: string | null) {
  if (value === null) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

export function setText(el: Node, text: string) {
  if (el.textContent !== text) el.textContent = text;
}

/** Makes `parent`'s children exactly `children`, in order, moving only what is out of place. */
export function reconcile(parent: Element, children: readonly Element[]) {
  const current = parent.children;
  let same = current.length === children.length;
  for (let i = 0; same && i < children.length; i++) same = current[i] === children[i];
  if (!same) parent.replaceChildren(...children);
}

/** An element of index.html, by id (the page's elements are all there from the start). */
export const byId = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
