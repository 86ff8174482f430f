/** Who is signed in, their database, tokens and sync engine; the only place that wires api/, db/ and sync/ together. */
import { reactive, markRaw } from 'vue'
import { createApiClient, ApiError } from '../api/client.js'
import { authCalls, createTokenManager, dexieTokenStore, tokensFromResponse } from '../api/auth.js'
import { forgetLastUser, getDeviceId, getLastUser, lastUsername, rememberUser } from '../db/meta.js'
import { closeUserDb, openUserDb } from '../db/user-db.js'
import { SyncEngine } from '../sync/engine.js'
import { createUploader } from '../sync/uploader.js'
import { unsyncedCount } from '../sync/outbox.js'
import { requestPersistence } from '../capture/storage.js'

export const session = reactive({
  ready: false,
  user: null,
  authExpired: false,
  online: globalThis.navigator?.onLine ?? true,
  sync: { running: false, lastSyncAt: null, lastError: null },
  progress: {},
})

const calls = authCalls()
let ctx = null // { db, tokens, api, engine, uploader }

export function currentDb() {
  if (!ctx) throw new Error('未登录')
  return ctx.db
}

export function isSignedIn() {
  return !!session.user
}

/** The signed-in user's API client (bearer token, refresh on 401), for online-only screens such as review. */
export function apiClient() {
  return ctx?.api ?? null
}

// Sync pull/push are inspector endpoints; a supervisor-only account has nothing to sync (older entries: no roles).
const syncsForms = (user) => !user.roles?.length || user.roles.includes('inspector')

function wire(user) {
  const db = openUserDb(user.id)
  const tokens = createTokenManager({
    store: dexieTokenStore(db),
    refreshCall: (rt) => calls.refresh(rt),
    lockName: `shuangsui-refresh-${user.id}`,
    onExpired: () => {
      session.authExpired = true
    },
  })
  const api = createApiClient({ auth: tokens })
  const uploader = createUploader({
    db,
    api,
    getAccessToken: () => tokens.getAccessToken(),
    onProgress: (id, sent, total) => {
      session.progress = { ...session.progress, [id]: { sent, total } }
    },
  })
  return { db, tokens, api, uploader, engine: null }
}

let watchingOnline = false
function watchOnline() {
  if (watchingOnline || !globalThis.window?.addEventListener) return
  watchingOnline = true
  session.online = globalThis.navigator?.onLine ?? true
  window.addEventListener('online', () => (session.online = true))
  window.addEventListener('offline', () => (session.online = false))
}

async function startEngine(user) {
  if (!syncsForms(user)) return watchOnline() // no engine to report connectivity
  const deviceId = await getDeviceId()
  ctx.engine = markRaw(
    new SyncEngine({
      db: ctx.db,
      api: ctx.api,
      uploader: ctx.uploader,
      deviceId,
      inspectorId: user.inspector_id,
      onStatus: (s) => {
        session.sync = { running: s.running, lastSyncAt: s.lastSyncAt, lastError: s.lastError }
        session.online = s.online
        if (s.authExpired) session.authExpired = true
      },
    }),
  )
  await ctx.engine.start()
}

function stopEngine() {
  ctx?.engine?.stop()
  if (ctx) ctx.engine = null
}

/** App start: reopen the last user's local data without touching the network. */
export async function restoreSession() {
  try {
    const last = await getLastUser()
    if (!last) return
    ctx = wire(last)
    if (!(await ctx.tokens.hasSession())) {
      // Signed in before but the refresh token is gone (revoked or expired): data stays, sign in again.
      session.authExpired = true
    }
    session.user = last
    await startEngine(last)
    requestPersistence()
  } finally {
    session.ready = true
  }
}

export async function signIn(username, password) {
  let res
  try {
    res = await calls.login(username.trim(), password)
  } catch (e) {
    if (e instanceof ApiError && e.network) throw new Error('无法连接服务器：首次登录需要网络')
    if (e instanceof ApiError && (e.status === 401 || e.status === 400 || e.status === 422)) throw new Error(e.message || '用户名或密码错误')
    throw e
  }
  const user = res.user
  if (ctx && session.user?.id !== user.id) {
    stopEngine()
    closeUserDb(session.user.id)
    ctx = null
  }
  if (!ctx) ctx = wire(user)
  else stopEngine()
  await ctx.tokens.set(tokensFromResponse(res))
  const remembered = await rememberUser(user)
  session.user = remembered
  session.authExpired = false
  await startEngine(remembered)
  requestPersistence()
  return remembered
}

export async function pendingWork() {
  return ctx ? unsyncedCount(ctx.db) : 0
}

/** Signs out on this device. Unsynced work stays in the user's database and goes out at the next sign-in. */
export async function signOut() {
  if (!ctx) return
  const refresh = await ctx.tokens.refreshToken()
  stopEngine()
  if (refresh && session.online) {
    try {
      await calls.logout(refresh)
    } catch {
      // Offline or already revoked: the local sign-out still happens.
    }
  }
  await ctx.tokens.clear()
  await forgetLastUser()
  closeUserDb(session.user.id)
  ctx = null
  session.user = null
  session.authExpired = false
  session.progress = {}
}

export function syncNow() {
  return ctx?.engine?.flush()
}

let flushTimer = null
/** After a local change: ask for Background Sync and push soon, coalescing bursts of edits. */
export function changed() {
  if (!ctx?.engine) return
  ctx.engine.requestBackgroundSync()
  clearTimeout(flushTimer)
  flushTimer = setTimeout(() => ctx?.engine?.flush(), 1500)
}

export function uploader() {
  return ctx?.uploader
}

export { lastUsername }
