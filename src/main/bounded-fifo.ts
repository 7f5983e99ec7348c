/**
 * Panda's `QueuedReturn` queue: FIFO with a cap; a full queue rejects the **newest** item and sets a
 * sticky overflow flag. O(1) push and shift, no per-item allocation beyond the item.
 *
 * Thread: main thread only (not shared).
 * @module
 */
export class BoundedFifo<T> {
  private items: Array<T | undefined> = [];
  private head = 0;
  /** Cap; existing items are kept when it is lowered. */
  maxSize: number;
  /** Sticky: an item was rejected for lack of room. */
  overflow = false;
  /** Items rejected for lack of room, total. */
  dropped = 0;

  constructor(maxSize: number) {
    this.maxSize = maxSize;
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** Appends `item`; false (overflow flag set) when the queue is at its cap. */
  push(item: T): boolean {
    if (this.size >= this.maxSize) {
      this.overflow = true;
      this.dropped++;
      return false;
    }
    this.items.push(item);
    return true;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** True if `item` is queued now (Panda's unique enqueue checks only current contents). */
  includes(item: T): boolean {
    for (let i = this.head; i < this.items.length; i++) if (this.items[i] === item) return true;
    return false;
  }
}
