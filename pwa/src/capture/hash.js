/** SHA-256 of captured files on the device: Web Crypto for ordinary sizes, incremental hash-wasm for big videos. */

// Web Crypto has no streaming digest, so it needs the whole file in memory; above this size we
// stream 8 MiB slices through hash-wasm instead (loaded on demand, it is not in the app shell).
export const WEBCRYPTO_LIMIT = 64 * 1024 * 1024
export const HASH_CHUNK = 8 * 1024 * 1024

export function toHex(buffer) {
  const bytes = new Uint8Array(buffer)
  let out = ''
  for (const b of bytes) out += b.toString(16).padStart(2, '0')
  return out
}

/** Lowercase hex SHA-256 of a Blob/File. `onProgress(fraction)` is called for the chunked path. */
export async function sha256Hex(blob, { limit = WEBCRYPTO_LIMIT, chunkSize = HASH_CHUNK, onProgress } = {}) {
  if (blob.size <= limit) {
    const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer())
    onProgress?.(1)
    return toHex(digest)
  }
  const { createSHA256 } = await import('hash-wasm')
  const hasher = await createSHA256()
  hasher.init()
  for (let offset = 0; offset < blob.size; offset += chunkSize) {
    const part = await blob.slice(offset, Math.min(offset + chunkSize, blob.size)).arrayBuffer()
    hasher.update(new Uint8Array(part))
    onProgress?.(Math.min(1, (offset + chunkSize) / blob.size))
  }
  return hasher.digest('hex')
}
