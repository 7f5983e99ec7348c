/**
 * Panda's `PointerToConnection`: an out-parameter box for a {@link Connection}.
 *
 * Thread: main thread only (it holds main-thread objects).
 * @module
 */
import type { Connection } from './connection.js';

/** A box that a call fills with a connection (or empties). Thread: main thread only. */
export class PointerToConnection {
  private conn: Connection | null;

  /** Empty, or pointing at `connection`. */
  constructor(connection: Connection | null = null) {
    this.conn = connection;
  }
  /** The connection, or null. */
  p(): Connection | null {
    return this.conn;
  }
  /** True when empty. */
  isNull(): boolean {
    return this.conn === null;
  }
  /** Empties the box. */
  clear(): void {
    this.conn = null;
  }
  /** Points at `connection` (Panda's assignment). */
  assign(connection: Connection | PointerToConnection | null): void {
    this.conn = connection instanceof PointerToConnection ? connection.conn : connection;
  }
  /** Identity hash of the connection (0 when empty). */
  getHash(): number {
    return this.conn === null ? 0 : this.conn.getId();
  }
}
