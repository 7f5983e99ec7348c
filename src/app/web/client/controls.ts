/**
 * A player's controls: a click or tap on the canvas sets where its entity should go; the arrow keys
 * or WASD move that target while held. The target starts where the entity is.
 *
 * Thread: the page's main thread.
 * @module
 */
import type { CanvasLike, KeyboardEventLike, PointerEventLike, WindowLike } from './dom.js';
import type { WorldView } from './view.js';

const KEYS: Record<string, [number, number]> = {
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
  a: [-1, 0],
  d: [1, 0],
  w: [0, -1],
  s: [0, 1],
};

/**
 * Where the player wants to go, from pointer and keys.
 *
 * Thread: the page's main thread.
 */
export class PlayerControls {
  /** The target in world units, null until {@link PlayerControls.startAt}. */
  target: { x: number; y: number } | null = null;
  /** World units per second the keys move the target. */
  keySpeed: number;
  #enabled = false;
  readonly #held = new Set<string>();
  #worldSize: number;

  constructor(win: WindowLike, canvas: CanvasLike, view: WorldView, worldSize: number) {
    this.#worldSize = worldSize;
    this.keySpeed = worldSize / 4;
    canvas.addEventListener('pointerdown', (e: PointerEventLike) => {
      if (!this.#enabled || e.button !== 0) return;
      e.preventDefault();
      this.target = view.toWorld(e.clientX, e.clientY, this.#worldSize);
    });
    win.addEventListener('keydown', (e: KeyboardEventLike) => {
      const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
      if (!this.#enabled || KEYS[k] === undefined) return;
      e.preventDefault();
      this.#held.add(k);
    });
    win.addEventListener('keyup', (e: KeyboardEventLike) => {
      this.#held.delete(e.key.length === 1 ? e.key.toLowerCase() : e.key);
    });
    win.addEventListener('blur', () => this.#held.clear());
  }

  /** Enables the controls with the target at `at` (the entity's position), in a world of `worldSize`. */
  startAt(at: { x: number; y: number }, worldSize: number): void {
    this.#worldSize = worldSize;
    this.keySpeed = worldSize / 4;
    this.target = { x: at.x, y: at.y };
    this.#enabled = true;
  }

  /** Disables the controls (the connection closed). */
  stop(): void {
    this.#enabled = false;
    this.#held.clear();
  }

  /** Moves the target by the held keys over `dtMs`. */
  update(dtMs: number): void {
    if (!this.#enabled || this.target === null || this.#held.size === 0) return;
    let dx = 0;
    let dy = 0;
    for (const k of this.#held) {
      const d = KEYS[k];
      if (d !== undefined) {
        dx += d[0];
        dy += d[1];
      }
    }
    const len = Math.hypot(dx, dy);
    if (len === 0) return;
    const step = (this.keySpeed * Math.min(dtMs, 100)) / 1000 / len;
    const clamp = (v: number): number => Math.min(this.#worldSize, Math.max(0, v));
    this.target = { x: clamp(this.target.x + dx * step), y: clamp(this.target.y + dy * step) };
  }
}
