/**
 * Draws the world on the page's canvas: the world's square, every entity as a dot (ours larger, in
 * orange, with a line to its target), and a status line. World units map to canvas pixels with one
 * scale, the square centred.
 *
 * Thread: the page's main thread.
 * @module
 */
import type { CanvasLike, Canvas2DLike } from './dom.js';
import type { DrawnEntity } from './world.js';

/** What one frame shows. */
export interface Frame {
  worldSize: number;
  entities: readonly DrawnEntity[];
  /** Our entity id (-1: none, e.g. a spectator before WELCOME). */
  selfId: number;
  /** Where we asked to go (players), or null. */
  target: { x: number; y: number } | null;
  /** Status text drawn at the top left. */
  status: string;
}

const MARGIN = 16;

/**
 * The canvas and its world-to-pixel mapping.
 *
 * Thread: the page's main thread.
 */
export class WorldView {
  readonly #canvas: CanvasLike;
  readonly #ctx: Canvas2DLike;
  #scale = 1;
  #ox = 0;
  #oy = 0;

  constructor(canvas: CanvasLike) {
    const ctx = canvas.getContext('2d');
    if (ctx === null) throw new Error('this browser has no 2D canvas');
    this.#canvas = canvas;
    this.#ctx = ctx;
  }

  /** Canvas pixel (CSS pixels relative to the page) → world coordinates, clamped to the world. */
  toWorld(clientX: number, clientY: number, worldSize: number): { x: number; y: number } {
    const r = this.#canvas.getBoundingClientRect();
    const ratio = r.width > 0 ? this.#canvas.width / r.width : 1;
    const px = (clientX - r.left) * ratio;
    const py = (clientY - r.top) * ratio;
    const clamp = (v: number): number => Math.min(worldSize, Math.max(0, v));
    return { x: clamp((px - this.#ox) / this.#scale), y: clamp((py - this.#oy) / this.#scale) };
  }

  /** Draws one frame; `pixelRatio` is the window's `devicePixelRatio`. */
  draw(frame: Frame, pixelRatio: number): void {
    const c = this.#canvas;
    const r = c.getBoundingClientRect();
    const w = Math.max(1, Math.round(r.width * pixelRatio));
    const h = Math.max(1, Math.round(r.height * pixelRatio));
    if (c.width !== w) c.width = w;
    if (c.height !== h) c.height = h;
    const ctx = this.#ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#0f1720';
    ctx.fillRect(0, 0, w, h);

    const side = Math.max(1, Math.min(w, h) - 2 * MARGIN * pixelRatio);
    this.#scale = side / frame.worldSize;
    this.#ox = (w - side) / 2;
    this.#oy = (h - side) / 2;
    ctx.fillStyle = '#16212d';
    ctx.fillRect(this.#ox, this.#oy, side, side);
    ctx.strokeStyle = '#2c3e50';
    ctx.lineWidth = pixelRatio;
    ctx.strokeRect(this.#ox, this.#oy, side, side);

    const dot = Math.max(2, 4 * pixelRatio);
    let self: DrawnEntity | undefined;
    ctx.fillStyle = '#5dade2';
    for (const e of frame.entities) {
      if (e.id === frame.selfId) {
        self = e;
        continue;
      }
      ctx.beginPath();
      ctx.arc(this.#ox + e.x * this.#scale, this.#oy + e.y * this.#scale, dot, 0, Math.PI * 2);
      ctx.fill();
    }
    if (self !== undefined) {
      const sx = this.#ox + self.x * this.#scale;
      const sy = this.#oy + self.y * this.#scale;
      if (frame.target !== null) {
        const tx = this.#ox + frame.target.x * this.#scale;
        const ty = this.#oy + frame.target.y * this.#scale;
        ctx.strokeStyle = '#f5b041';
        ctx.globalAlpha = 0.6;
        ctx.beginPath();
        ctx.moveTo(sx, sy);
        ctx.lineTo(tx, ty);
        ctx.stroke();
        ctx.beginPath();
        ctx.arc(tx, ty, dot * 1.5, 0, Math.PI * 2);
        ctx.stroke();
        ctx.globalAlpha = 1;
      }
      ctx.fillStyle = '#f39c12';
      ctx.beginPath();
      ctx.arc(sx, sy, dot * 2, 0, Math.PI * 2);
      ctx.fill();
      ctx.strokeStyle = '#fdebd0';
      ctx.stroke();
    }

    const fontPx = Math.round(13 * pixelRatio);
    ctx.font = `${fontPx}px system-ui, sans-serif`;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    const pad = 4 * pixelRatio;
    const tx = this.#ox + 8 * pixelRatio;
    const ty = this.#oy + 8 * pixelRatio;
    ctx.fillStyle = 'rgba(15, 23, 32, 0.8)';
    ctx.fillRect(tx - pad, ty - pad, ctx.measureText(frame.status).width + 2 * pad, fontPx + 2 * pad);
    ctx.fillStyle = '#d5dbdb';
    ctx.fillText(frame.status, tx, ty);
  }
}
