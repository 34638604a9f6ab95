/**
 * Runs `work` on every item with at most `limit` at a time and returns the
 * results in the items' order. When one fails the others still finish (no
 * work is left running behind the caller's back), then the first error is thrown.
 */
export async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  const errors: unknown[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
      for (let index = next++; index < items.length; index = next++) {
        try {
          results[index] = await work(items[index] as T);
        } catch (err) {
          errors.push(err);
        }
      }
    }),
  );
  if (errors.length > 0) throw errors[0];
  return results;
}
