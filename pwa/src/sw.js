/** Service worker: precached app shell with navigation fallback; never touches API calls or non-GET requests. */
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching'
import { NavigationRoute, registerRoute } from 'workbox-routing'

// The build injects the versioned list; every deploy replaces the whole shell atomically.
precacheAndRoute(self.__WB_MANIFEST)
cleanupOutdatedCaches()

// Deep links under /app/ open offline; /api/ and uploads are left to the network (data lives in IndexedDB).
const BASE = import.meta.env.BASE_URL // '/app/'
registerRoute(
  new NavigationRoute(createHandlerBoundToURL(`${BASE}index.html`), {
    allowlist: [new RegExp(`^${BASE}`)],
    denylist: [/^\/api\//, /\/[^/?]+\.[^/]+$/],
  }),
)

// No fetch handler of our own: Workbox routes match GET only, so POST/PATCH/HEAD (push, tus) pass straight through.

// registerType "prompt": the page decides when the new version takes over (after the outbox is flushed or the user agrees).
self.addEventListener('message', (event) => {
  if (event.data?.type === 'SKIP_WAITING') self.skipWaiting()
})

// Background Sync: the sync itself needs the user's tokens and database, which live in the page,
// so the worker only wakes an open page and asks it to flush.
self.addEventListener('sync', (event) => {
  if (event.tag !== 'shuangsui-outbox') return
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((clients) => {
      for (const c of clients) c.postMessage({ type: 'OUTBOX_FLUSH' })
    }),
  )
})
