/** Exponential backoff with jitter, so a hundred phones coming back online at 8:00 don't retry in lockstep. */

export const BACKOFF_BASE_MS = 2_000
export const BACKOFF_CAP_MS = 5 * 60_000

/**
 * Delay before retry number `attempt` (1-based): "equal jitter", half fixed and half random, so the
 * wait grows predictably yet two devices that failed together drift apart.
 */
export function backoffDelay(attempt, { base = BACKOFF_BASE_MS, cap = BACKOFF_CAP_MS, random = Math.random } = {}) {
  const n = Math.max(1, Math.floor(attempt))
  const ceiling = Math.min(cap, base * 2 ** Math.min(n - 1, 30))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}
