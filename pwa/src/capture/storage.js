/** Asks the browser to keep our data (persist) and watches how full the origin's quota is. */

export const WARN_RATIO = 0.8

export async function requestPersistence(storage = globalThis.navigator?.storage) {
  if (!storage?.persist) return false
  try {
    if (await storage.persisted?.()) return true
    return await storage.persist()
  } catch {
    return false
  }
}

export async function storageUsage(storage = globalThis.navigator?.storage) {
  if (!storage?.estimate) return null
  try {
    const { usage = 0, quota = 0 } = await storage.estimate()
    const ratio = quota ? usage / quota : 0
    return { usage, quota, ratio, warn: ratio > WARN_RATIO, persisted: (await storage.persisted?.()) ?? false }
  } catch {
    return null
  }
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return '-'
  const units = ['B', 'KB', 'MB', 'GB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024
    i += 1
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`
}
