/** Growing the evaluator's scratch arrays (stacks, queues, record buffers). */

/** `array` itself when `needed` ints fit, else a copy doubled until they do. */
export function withRoom(array: Int32Array<ArrayBuffer>, needed: number): Int32Array<ArrayBuffer> {
  if (needed <= array.length) return array;
  let length = Math.max(1, array.length) * 2;
  while (length < needed) length *= 2;
  const next = new Int32Array(length);
  next.set(array);
  return next;
}
