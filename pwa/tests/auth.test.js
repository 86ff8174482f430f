// Token manager (single-flight refresh, cross-tab, expiry) and the API client's 401/error handling.
import { describe, expect, it, vi } from 'vitest'
import { createTokenManager } from '../src/api/auth.js'
import { ApiError, AuthExpiredError, createApiClient } from '../src/api/client.js'

function memoryStore(initial) {
  let t = initial
  return { load: vi.fn(async () => t), save: vi.fn(async (v) => (t = v)), clear: vi.fn(async () => (t = null)), peek: () => t }
}

describe('token manager', () => {
  it('refreshes once for many concurrent callers and stores the rotated tokens', async () => {
    const store = memoryStore({ access_token: 'old', refresh_token: 'r1', expires_at: 0 })
    let resolve
    const refreshCall = vi.fn(() => new Promise((r) => (resolve = r)))
    const tm = createTokenManager({ store, refreshCall, locks: null })
    const all = Promise.all([tm.getAccessToken(), tm.getAccessToken(), tm.getAccessToken()])
    await new Promise((r) => setTimeout(r, 0))
    resolve({ access_token: 'new', refresh_token: 'r2', expires_in: 900 })
    expect(await all).toEqual(['new', 'new', 'new'])
    expect(refreshCall).toHaveBeenCalledTimes(1)
    expect(refreshCall).toHaveBeenCalledWith('r1')
    expect(store.peek().refresh_token).toBe('r2')
  })

  it('uses tokens another tab just rotated instead of replaying the old refresh token', async () => {
    const store = memoryStore({ access_token: 'a1', refresh_token: 'r1', expires_at: Date.now() + 600_000 })
    const refreshCall = vi.fn()
    const tm = createTokenManager({ store, refreshCall, locks: null })
    expect(await tm.getAccessToken()).toBe('a1')
    tm.invalidate('a1')
    await store.save({ access_token: 'a2', refresh_token: 'r2', expires_at: Date.now() + 600_000 }) // other tab
    expect(await tm.getAccessToken()).toBe('a2')
    expect(refreshCall).not.toHaveBeenCalled()
  })

  it('turns a refused refresh into "signed out" without touching anything but the tokens', async () => {
    const store = memoryStore({ access_token: 'a', refresh_token: 'revoked', expires_at: 0 })
    const onExpired = vi.fn()
    const tm = createTokenManager({ store, refreshCall: async () => Promise.reject(new ApiError({ status: 401 })), locks: null, onExpired })
    await expect(tm.getAccessToken()).rejects.toBeInstanceOf(AuthExpiredError)
    expect(onExpired).toHaveBeenCalled()
    expect(store.peek()).toBe(null)
  })

  it('keeps the refresh token when offline', async () => {
    const store = memoryStore({ access_token: 'a', refresh_token: 'r1', expires_at: 0 })
    const tm = createTokenManager({ store, refreshCall: async () => Promise.reject(new ApiError({ network: true })), locks: null })
    await expect(tm.getAccessToken()).rejects.toMatchObject({ network: true, transient: true })
    expect(store.peek().refresh_token).toBe('r1')
  })

  it('serialises refreshes through Web Locks when available', async () => {
    const store = memoryStore({ access_token: 'a', refresh_token: 'r1', expires_at: 0 })
    const locks = { request: vi.fn((name, fn) => fn()) }
    const tm = createTokenManager({ store, refreshCall: async () => ({ access_token: 'b', refresh_token: 'r2', expires_in: 900 }), locks, lockName: 'shuangsui-refresh-u1' })
    expect(await tm.getAccessToken()).toBe('b')
    expect(locks.request).toHaveBeenCalledWith('shuangsui-refresh-u1', expect.any(Function))
  })
})

describe('api client', () => {
  it('retries once with a fresh token after a 401 and parses the error shape', async () => {
    const tokens = ['t1', 't2']
    const auth = { getAccessToken: vi.fn(async () => tokens[0]), invalidate: vi.fn(() => tokens.shift()) }
    const fetchImpl = vi.fn(async (url, init) => {
      if (init.headers.Authorization === 'Bearer t1') return new Response('{}', { status: 401 })
      if (url.startsWith('/api/v1/bad')) return new Response(JSON.stringify({ code: 422, status: 'Unprocessable', message: '参数错误', errors: { a: ['x'] } }), { status: 422 })
      return new Response(JSON.stringify({ ok: true }), { status: 200 })
    })
    const api = createApiClient({ fetchImpl, auth })
    expect(await api.get('/api/v1/auth/me')).toEqual({ ok: true })
    expect(auth.invalidate).toHaveBeenCalledWith('t1')
    await expect(api.get('/api/v1/bad')).rejects.toMatchObject({ status: 422, message: '参数错误', errors: { a: ['x'] }, transient: false })
  })

  it('reports network failures as transient', async () => {
    const api = createApiClient({ fetchImpl: async () => Promise.reject(new TypeError('Failed to fetch')), auth: { getAccessToken: async () => 't', invalidate() {} } })
    await expect(api.post('/api/v1/sync/push', {})).rejects.toMatchObject({ network: true, transient: true, message: '网络不可用' })
  })
})
