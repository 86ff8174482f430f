/** One location fix for check-in and evidence provenance, with an honest Chinese reason when there is none. */

export class NoFixError extends Error {}

const REASONS = {
  1: '未授予定位权限',
  2: '无法获取位置（信号弱或定位服务关闭）',
  3: '定位超时',
}

export function getFix({ timeout = 20_000, maximumAge = 30_000, geolocation = globalThis.navigator?.geolocation } = {}) {
  return new Promise((resolve, reject) => {
    if (!geolocation) {
      reject(new NoFixError('设备不支持定位'))
      return
    }
    geolocation.getCurrentPosition(
      (pos) =>
        resolve({
          lat: pos.coords.latitude,
          lng: pos.coords.longitude,
          accuracy_m: Math.round(pos.coords.accuracy),
          at: new Date(pos.timestamp || Date.now()).toISOString(),
        }),
      (err) => reject(new NoFixError(REASONS[err?.code] ?? '无法获取位置')),
      { enableHighAccuracy: true, timeout, maximumAge },
    )
  })
}

/** Metres between two WGS-84 points (haversine), for "距企业登记地址约 N 米". */
export function distanceMetres(a, b) {
  if (![a?.lat, a?.lng, b?.lat, b?.lng].every((v) => typeof v === 'number')) return null
  const R = 6371_000
  const rad = (d) => (d * Math.PI) / 180
  const dLat = rad(b.lat - a.lat)
  const dLng = rad(b.lng - a.lng)
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2
  return Math.round(2 * R * Math.asin(Math.sqrt(h)))
}

// The last fix is reused for evidence taken shortly after check-in, without waiting for GPS again.
let lastFix = null
export function rememberFix(fix) {
  lastFix = fix
}
export function recentFix(maxAgeMs = 5 * 60_000) {
  if (!lastFix) return null
  return Date.now() - new Date(lastFix.at).getTime() <= maxAgeMs ? lastFix : null
}
