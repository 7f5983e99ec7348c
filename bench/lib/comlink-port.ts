/**
 * Adapts a `worker_threads` MessagePort for comlink (its node adapter ships as UMD, whose default
 * export TypeScript cannot see through NodeNext resolution).
 *
 * Used only by bench/micro/rpc.ts (the library itself does not use comlink). Thread: any.
 * @module
 */
import type { Endpoint } from 'comlink';
import * as adapterModule from 'comlink/dist/umd/node-adapter.js';
import type { MessagePort } from 'node:worker_threads';

type NodeEndpointFn = (port: unknown) => Endpoint;
const mod = adapterModule as unknown as { default?: NodeEndpointFn | { default?: NodeEndpointFn } };
const nodeEndpoint: NodeEndpointFn =
  typeof mod.default === 'function' ? mod.default : (mod.default?.default ?? (adapterModule as unknown as NodeEndpointFn));

/** A comlink endpoint over `port`. */
export function comlinkEndpoint(port: MessagePort): Endpoint {
  return nodeEndpoint(port);
}
