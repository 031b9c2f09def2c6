// Small promise helpers shared by the flush and the warehouse writers.

/** A turn of the event loop: I/O (reads, consumption) runs before this resolves. */
export const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Waits for every operation (none is left running, e.g. on a connection, when this returns),
 * then fails with the first failure, if any. */
export async function settleAll<T extends readonly unknown[]>(ops: { readonly [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(ops);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
