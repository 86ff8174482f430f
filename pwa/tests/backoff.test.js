// Exponential backoff with jitter.
import { describe, expect, it } from 'vitest'
import { BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoffDelay } from '../src/sync/backoff.js'

describe('backoffDelay', () => {
  it('doubles per attempt, half fixed and half jitter', () => {
    for (const attempt of [1, 2, 3, 4, 5]) {
      const ceiling = BACKOFF_BASE_MS * 2 ** (attempt - 1)
      expect(backoffDelay(attempt, { random: () => 0 })).toBe(ceiling / 2)
      expect(backoffDelay(attempt, { random: () => 0.999999 })).toBeCloseTo(ceiling, -1)
    }
  })

  it('is capped', () => {
    expect(backoffDelay(50, { random: () => 1 })).toBe(BACKOFF_CAP_MS)
    expect(backoffDelay(1e9, { random: () => 0 })).toBe(BACKOFF_CAP_MS / 2)
  })

  it('spreads devices that failed together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(6)))
    expect(delays.size).toBeGreaterThan(10)
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(32_000)
      expect(d).toBeLessThanOrEqual(64_000)
    }
  })

  it('treats nonsense attempts as the first', () => {
    expect(backoffDelay(0, { random: () => 0 })).toBe(BACKOFF_BASE_MS / 2)
    expect(backoffDelay(-3, { random: () => 0 })).toBe(BACKOFF_BASE_MS / 2)
  })
})
