// On-device SHA-256: Web Crypto and the chunked hash-wasm path agree with known vectors.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sha256Hex, toHex } from '../src/capture/hash.js'

const nodeHex = (buf) => createHash('sha256').update(buf).digest('hex')

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 vectors', async () => {
    expect(await sha256Hex(new Blob([]))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(await sha256Hex(new Blob(['abc']))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(await sha256Hex(new Blob(['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq']))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    )
  })

  it('gives the same digest on the chunked (hash-wasm) path used for big videos', async () => {
    const bytes = new Uint8Array(3 * 1024 * 1024 + 17)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >> 7)) & 0xff
    const blob = new Blob([bytes], { type: 'video/mp4' })
    const progress = []
    const chunked = await sha256Hex(blob, { limit: 1024, chunkSize: 1024 * 1024, onProgress: (f) => progress.push(f) })
    expect(chunked).toBe(nodeHex(bytes))
    expect(await sha256Hex(blob)).toBe(chunked)
    expect(progress.length).toBe(4)
    expect(progress.at(-1)).toBe(1)
  })

  it('hex-encodes with leading zeros', () => {
    expect(toHex(new Uint8Array([0, 1, 15, 16, 255]).buffer)).toBe('00010f10ff')
  })
})
