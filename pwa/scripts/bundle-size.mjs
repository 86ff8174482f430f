// Reports the gzipped size of the app shell: the JS and CSS that dist/index.html loads before any route chunk.
import { readFileSync, statSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const BUDGET_KB = 250
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')
const html = readFileSync(join(dist, 'index.html'), 'utf8')
const refs = [...html.matchAll(/(?:src|href)="\/app\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1])

// Static imports of the entry chunk are loaded at start too (modulepreload lists most, not always all).
const seen = new Set()
const queue = [...refs]
while (queue.length) {
  const rel = queue.shift()
  if (seen.has(rel)) continue
  seen.add(rel)
  if (!rel.endsWith('.js')) continue
  const code = readFileSync(join(dist, rel), 'utf8')
  for (const m of code.matchAll(/(?:^|[;\s])import\s*(?:[\w*{}\s,$]+from\s*)?["']\.\/([^"']+\.js)["']/g)) queue.push(`assets/${m[1]}`)
}

let js = 0
let css = 0
const rows = []
for (const rel of seen) {
  const buf = readFileSync(join(dist, rel))
  const gz = gzipSync(buf, { level: 9 }).length
  if (rel.endsWith('.css')) css += gz
  else js += gz
  rows.push([rel, (statSync(join(dist, rel)).size / 1024).toFixed(1), (gz / 1024).toFixed(1)])
}
rows.sort((a, b) => b[2] - a[2])
for (const [rel, raw, gz] of rows) console.log(`${rel.padEnd(52)} ${raw.padStart(8)} kB  gzip ${gz.padStart(7)} kB`)
const total = (js + css) / 1024
console.log(`shell JS ${(js / 1024).toFixed(1)} kB + CSS ${(css / 1024).toFixed(1)} kB = ${total.toFixed(1)} kB gzipped (budget ${BUDGET_KB} kB)`)
if (total > BUDGET_KB) {
  console.error('app shell over budget')
  process.exit(1)
}
