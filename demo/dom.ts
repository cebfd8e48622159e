/** Tiny DOM helpers: no framework, user text only ever through textContent. */

type Child = Node | string | null | undefined | false

export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Record<string, string | number | boolean | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue
    if (key === 'class') el.className = String(value)
    else if (key === 'text') el.textContent = String(value)
    else el.setAttribute(key, value === true ? '' : String(value))
  }
  for (const child of children) {
    if (child == null || child === false) continue
    el.append(child)
  }
  return el
}

export function $<T extends HTMLElement = HTMLElement> (selector: string): T {
  const el = document.querySelector<T>(selector)
  if (el == null) throw new Error(`missing element ${selector}`)
  return el
}

/** A stable hue for a peer id, for its avatar. */
export function hue (id: string): number {
  let x = 2166136261
  for (let i = 0; i < id.length; i++) {
    x ^= id.charCodeAt(i)
    x = Math.imul(x, 16777619)
  }
  return (x >>> 0) % 360
}

/** An avatar: the first letter of the name on a colour of the peer id. */
export function avatar (id: string, name: string, cls = ''): HTMLSpanElement {
  const el = h('span', { class: `avatar ${cls}`.trim(), 'aria-hidden': 'true' }, initial(name))
  el.style.setProperty('--hue', String(hue(id)))
  return el
}

export function initial (name: string): string {
  const first = [...name.trim()][0] ?? '?'
  return first.toUpperCase()
}

/** The last characters of a peer id: enough to tell peers apart. */
export function shortId (id: string): string {
  return `…${id.slice(-6)}`
}

const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })

export function formatTime (ts: number): string {
  return time.format(ts)
}

export function formatDateTime (ts: number): string {
  return dateTime.format(ts)
}
