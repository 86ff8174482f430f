/** Cursor-based pull of the inspector's forms into the local store. */
import { savePulledForms } from '../db/forms.js'

export const PULL_PAGE = 100

/** Pulls every page changed since the stored cursor; the cursor only advances after a page is saved. */
export async function pullChanges(db, api, { limit = PULL_PAGE, maxPages = 100 } = {}) {
  let cursor = await db.getKv('pullCursor', null)
  let pages = 0
  let forms = 0
  for (;;) {
    const res = await api.get('/api/v1/sync/pull', { query: { cursor, limit } })
    await savePulledForms(db, res)
    forms += res.forms?.length ?? 0
    if (res.cursor) {
      cursor = res.cursor
      await db.setKv('pullCursor', cursor)
    }
    pages += 1
    if (!res.has_more || pages >= maxPages) break
  }
  await db.setKv('lastPullAt', new Date().toISOString())
  return { pages, forms }
}
