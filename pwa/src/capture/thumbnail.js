/** Small JPEG previews of photos, kept after the original is dropped from the device. */

export async function makeThumbnail(file, { max = 320, quality = 0.7 } = {}) {
  if (!file.type?.startsWith('image/') || typeof createImageBitmap !== 'function') return null
  try {
    const bitmap = await createImageBitmap(file)
    const scale = Math.min(1, max / Math.max(bitmap.width, bitmap.height))
    const w = Math.max(1, Math.round(bitmap.width * scale))
    const h = Math.max(1, Math.round(bitmap.height * scale))
    const canvas = document.createElement('canvas')
    canvas.width = w
    canvas.height = h
    canvas.getContext('2d').drawImage(bitmap, 0, 0, w, h)
    bitmap.close?.()
    return await new Promise((resolve) => canvas.toBlob((b) => resolve(b), 'image/jpeg', quality))
  } catch {
    return null
  }
}
