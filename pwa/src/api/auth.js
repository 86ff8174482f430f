/** Tokens: login/refresh/logout calls and a token manager that refreshes once for everyone who needs a token. */
import { ApiError, AuthExpiredError, createApiClient } from './client.js'

const SKEW_MS = 30_000

export function tokensFromResponse(res, now = Date.now()) {
  return {
    access_token: res.access_token,
    refresh_token: res.refresh_token,
    expires_at: now + (Number(res.expires_in) || 900) * 1000,
  }
}

export function authCalls({ fetchImpl, baseUrl = '' } = {}) {
  const plain = createApiClient({ fetchImpl, baseUrl })
  return {
    login: (username, password) => plain.post('/api/v1/auth/login', { username, password }, { authed: false }),
    refresh: (refreshToken) => plain.post('/api/v1/auth/refresh', { refresh_token: refreshToken }, { authed: false }),
    logout: (refreshToken) => plain.post('/api/v1/auth/logout', { refresh_token: refreshToken }, { authed: false }),
  }
}

/**
 * `store` persists tokens (the per-user Dexie DB) so a phone offline for days still holds a refresh
 * token when it comes back. Refresh tokens rotate and replaying an old one revokes the whole family,
 * so exactly one refresh may run: a promise shared inside this tab, and a Web Lock across tabs.
 */
export function createTokenManager({ store, refreshCall, locks = globalThis.navigator?.locks, lockName = 'shuangsui-refresh', now = () => Date.now(), onExpired = () => {} }) {
  let memory = null
  let inflight = null

  const valid = (t) => t?.access_token && t.expires_at - SKEW_MS > now()

  async function current() {
    memory ??= await store.load()
    return memory
  }

  async function doRefresh(staleAccess) {
    const saved = await store.load()
    if (!saved?.refresh_token) {
      onExpired()
      throw new AuthExpiredError('尚未登录')
    }
    // Another tab may have rotated the tokens while we waited for the lock.
    if (valid(saved) && saved.access_token !== staleAccess) {
      memory = saved
      return saved.access_token
    }
    let res
    try {
      res = await refreshCall(saved.refresh_token)
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        await store.clear()
        memory = null
        onExpired()
        throw new AuthExpiredError()
      }
      throw e
    }
    memory = tokensFromResponse(res, now())
    await store.save(memory)
    return memory.access_token
  }

  function refresh(staleAccess = memory?.access_token) {
    inflight ??= (locks?.request ? locks.request(lockName, () => doRefresh(staleAccess)) : doRefresh(staleAccess)).finally(() => {
      inflight = null
    })
    return inflight
  }

  return {
    async getAccessToken() {
      const t = await current()
      if (valid(t)) return t.access_token
      return refresh(t?.access_token)
    },
    /** The server refused this token: forget it so the next call refreshes. */
    invalidate(token) {
      if (memory && memory.access_token === token) memory = { ...memory, expires_at: 0 }
    },
    refresh,
    async set(tokens) {
      memory = tokens
      await store.save(tokens)
    },
    async clear() {
      memory = null
      await store.clear()
    },
    async refreshToken() {
      return (await current())?.refresh_token ?? null
    },
    async hasSession() {
      return !!(await current())?.refresh_token
    },
  }
}

/** Token storage inside the per-user database. */
export function dexieTokenStore(db) {
  return {
    load: () => db.getKv('tokens', null),
    save: (t) => db.setKv('tokens', t),
    clear: () => db.deleteKv('tokens'),
  }
}
