// @ts-check
/**
 * A stand-in for Panda3D's `taskMgr`, just enough for the manual's examples: tasks run every
 * frame (default 60 frames per second) in priority order until one returns `Task.done`.
 */
export const Task = /** @type {const} */ ({ cont: 1, done: 0 });

/** @typedef {(taskdata: { frame: number }) => number} TaskFn */

export class TaskManager {
  /** @type {Array<{ fn: TaskFn, name: string, sort: number }>} */
  #tasks = [];
  /** @type {NodeJS.Timeout | null} */
  #timer = null;
  #frame = 0;

  /**
   * Adds a task, like `taskMgr.add(fn, name, sort)`; lower sort runs first.
   * @param {TaskFn} fn @param {string} name @param {number} [sort]
   */
  add(fn, name, sort = 0) {
    this.#tasks.push({ fn, name, sort });
    this.#tasks.sort((a, b) => a.sort - b.sort);
    if (this.#timer === null) this.#timer = setInterval(() => this.#step(), 1000 / 60);
  }

  /** Removes a task by name. @param {string} name */
  remove(name) {
    this.#tasks = this.#tasks.filter((t) => t.name !== name);
    if (this.#tasks.length === 0) this.stop();
  }

  /** Stops every task. */
  stop() {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#tasks = [];
  }

  #step() {
    const frame = this.#frame++;
    for (const t of [...this.#tasks]) if (t.fn({ frame }) === Task.done) this.remove(t.name);
  }
}

export const taskMgr = new TaskManager();
