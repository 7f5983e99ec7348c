/**
 * The few DOM APIs the demo page's script uses, typed here (the package compiles without the DOM
 * library, whose globals would leak into the Node code's type checks), and the page's globals.
 *
 * Thread: a browser window's main thread.
 * @module
 */

/** A pointer (mouse, pen, touch) event. */
export interface PointerEventLike {
  readonly clientX: number;
  readonly clientY: number;
  readonly button: number;
  preventDefault(): void;
}

/** A keyboard event. */
export interface KeyboardEventLike {
  readonly key: string;
  readonly repeat: boolean;
  preventDefault(): void;
}

/** An element: what the page reads and writes on one. */
export interface ElementLike {
  textContent: string | null;
  hidden: boolean;
  className: string;
  setAttribute(name: string, value: string): void;
  addEventListener(type: string, listener: (event: never) => void): void;
}

/** A button. */
export interface ButtonLike extends ElementLike {
  disabled: boolean;
}

/** The 2D context calls the view makes. */
export interface Canvas2DLike {
  fillStyle: string;
  strokeStyle: string;
  lineWidth: number;
  font: string;
  textAlign: string;
  textBaseline: string;
  globalAlpha: number;
  setTransform(a: number, b: number, c: number, d: number, e: number, f: number): void;
  clearRect(x: number, y: number, w: number, h: number): void;
  fillRect(x: number, y: number, w: number, h: number): void;
  strokeRect(x: number, y: number, w: number, h: number): void;
  beginPath(): void;
  arc(x: number, y: number, r: number, start: number, end: number): void;
  moveTo(x: number, y: number): void;
  lineTo(x: number, y: number): void;
  fill(): void;
  stroke(): void;
  fillText(text: string, x: number, y: number): void;
  measureText(text: string): { width: number };
}

/** A `<canvas>`. */
export interface CanvasLike extends ElementLike {
  width: number;
  height: number;
  getContext(kind: '2d'): Canvas2DLike | null;
  getBoundingClientRect(): { left: number; top: number; width: number; height: number };
}

/** The document. */
export interface DocumentLike {
  getElementById(id: string): ElementLike | null;
}

/** The window (global object of the page). */
export interface WindowLike {
  readonly document: DocumentLike;
  readonly devicePixelRatio: number;
  readonly location: { readonly protocol: string; readonly hostname: string; readonly search: string };
  requestAnimationFrame(callback: (timeMs: number) => void): number;
  addEventListener(type: string, listener: (event: never) => void): void;
}

/** The page's window. Thread: the page's main thread. */
export function pageWindow(): WindowLike {
  return globalThis as unknown as WindowLike;
}

/** The element with `id`, or an error naming it (the page's markup and script belong together). Thread: the page's main thread. */
export function byId<T extends ElementLike>(id: string): T {
  const el = pageWindow().document.getElementById(id);
  if (el === null) throw new Error(`the page has no element #${id}`);
  return el as T;
}
