// Draws the app icons (a white check sheet on the theme blue) as PNGs without any image library.
import { deflateSync } from 'node:zlib'
import { writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'public', 'icons')
const BLUE = [11, 87, 208]
const WHITE = [255, 255, 255]
const GREEN = [19, 115, 51]

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
function crc32(buf) {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
function chunk(type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([len, body, crc])
}
function encodePng(size, rgba) {
  const raw = Buffer.alloc((size * 4 + 1) * size)
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0
    rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4)
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(size, 0)
  ihdr.writeUInt32BE(size, 4)
  ihdr[8] = 8
  ihdr[9] = 6
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

function inRoundRect(x, y, x0, y0, x1, y1, r) {
  if (x < x0 || x > x1 || y < y0 || y > y1) return false
  const cx = Math.min(Math.max(x, x0 + r), x1 - r)
  const cy = Math.min(Math.max(y, y0 + r), y1 - r)
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
}
function distToSegment(px, py, ax, ay, bx, by) {
  const t = Math.max(0, Math.min(1, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)))
  return Math.hypot(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay)))
}

// Shapes are in unit coordinates (0..1); `scale` shrinks the artwork into the maskable safe zone.
function colourAt(u, v, { maskable }) {
  const s = maskable ? 0.72 : 0.9
  const x = (u - 0.5) / s + 0.5
  const y = (v - 0.5) / s + 0.5
  const bg = maskable ? true : inRoundRect(u, v, 0.02, 0.02, 0.98, 0.98, 0.2)
  if (!bg) return null
  if (inRoundRect(x, y, 0.22, 0.14, 0.78, 0.86, 0.06)) {
    if (distToSegment(x, y, 0.33, 0.52, 0.45, 0.65) < 0.045 || distToSegment(x, y, 0.45, 0.65, 0.68, 0.36) < 0.045) return GREEN
    for (const ly of [0.24, 0.76]) if (Math.abs(y - ly) < 0.022 && x > 0.32 && x < 0.68) return BLUE
    return WHITE
  }
  return BLUE
}

function render(size, opts) {
  const px = Buffer.alloc(size * size * 4)
  const ss = 4
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0, g = 0, b = 0, a = 0
      for (let sy = 0; sy < ss; sy++) {
        for (let sx = 0; sx < ss; sx++) {
          const c = colourAt((x + (sx + 0.5) / ss) / size, (y + (sy + 0.5) / ss) / size, opts)
          if (c) { r += c[0]; g += c[1]; b += c[2]; a += 1 }
        }
      }
      const o = (y * size + x) * 4
      if (a) { px[o] = r / a; px[o + 1] = g / a; px[o + 2] = b / a }
      px[o + 3] = Math.round((a / (ss * ss)) * 255)
    }
  }
  return encodePng(size, px)
}

mkdirSync(OUT, { recursive: true })
const targets = [
  ['icon-192.png', 192, { maskable: false }],
  ['icon-512.png', 512, { maskable: false }],
  ['maskable-512.png', 512, { maskable: true }],
  ['apple-touch-icon-180.png', 180, { maskable: true }],
  ['favicon-32.png', 32, { maskable: false }],
]
for (const [name, size, opts] of targets) {
  writeFileSync(join(OUT, name), render(size, opts))
  console.log(`wrote public/icons/${name}`)
}
