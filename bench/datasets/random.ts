/**
 * Deterministic randomness for the bench datasets. Nothing here reads Math.random or the clock, so a seed
 * always produces the same data on every machine and in every process.
 *
 * Two shapes: `hash32` is random access (the value for "owner of document 123" is a pure function of the
 * seed, a stream tag and the index), which lets a workload ask about document 123 without replaying the
 * whole stream; `Prng` is a sequential generator for sampling workloads.
 */

/** A 32-bit avalanche mix (the murmur3 finalizer): small input changes flip about half the output bits. */
function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniformly distributed unsigned 32-bit value for (seed, stream, index). */
export function hash32(seed: number, stream: number, index: number): number {
  return mix32(mix32(mix32(seed ^ 0x9e3779b9) ^ Math.imul(stream + 1, 0x27d4eb2f)) ^ index);
}

/** An integer in [0, n) for (seed, stream, index). The modulo bias is below 1e-5 for the sizes used here. */
export function pick(seed: number, stream: number, index: number, n: number): number {
  return n <= 1 ? 0 : hash32(seed, stream, index) % n;
}

/** A float in [0, 1) for (seed, stream, index). */
export function chance(seed: number, stream: number, index: number): number {
  return hash32(seed, stream, index) / 4294967296;
}

/** The sequential generator for sampling workloads (shared with the randomized tests). */
export { Prng } from "../../common/prng.js";
