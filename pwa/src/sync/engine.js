/** Runs the sync cycle (push ops → upload files → pull) and decides when: start, `online`, every 60 s while visible, Background Sync. */
import { OP_STATE } from './operations.js'
import {
  makeAllDue,
  markSending,
  nextBatch,
  pruneSynced,
  recordAuthFailure,
  recordPushResults,
  recordTransportFailure,
  resetInterrupted,
  toWire,
} from './outbox.js'
import { pullChanges } from './pull.js'

export const SYNC_TAG = 'shuangsui-outbox'
export const FLUSH_MESSAGE = 'OUTBOX_FLUSH'
export const INTERVAL_MS = 60_000

export class SyncEngine {
  /**
   * deps: db, api (createApiClient), uploader (createUploader), deviceId, inspectorId,
   * onStatus(status) for the UI, now/random for tests.
   */
  constructor({ db, api, uploader, deviceId, inspectorId, onStatus = () => {}, now = () => Date.now(), random = Math.random }) {
    Object.assign(this, { db, api, uploader, deviceId, inspectorId, onStatus, now, random })
    this.running = null
    this.again = false
    this.status = { running: false, lastSyncAt: null, lastError: null, authExpired: false, online: true }
    this.cleanup = []
    this.retryTimer = null
    this.started = false
  }

  setStatus(patch) {
    this.status = { ...this.status, ...patch }
    this.onStatus(this.status)
  }

  /** One cycle at a time; a request during a cycle schedules exactly one more. */
  flush() {
    if (this.running) {
      this.again = true
      return this.running
    }
    this.running = (async () => {
      do {
        this.again = false
        await this.cycle()
      } while (this.again)
    })().finally(() => {
      this.running = null
    })
    return this.running
  }

  async cycle() {
    if (this.status.authExpired) return
    this.setStatus({ running: true })
    try {
      await this.pushAll()
      const uploaded = await this.uploadAll()
      await pullChanges(this.db, this.api)
      // Files that just arrived may unblock a queued submit.
      if (uploaded) await this.pushAll()
      await pruneSynced(this.db, { now: this.now })
      this.setStatus({ lastSyncAt: new Date(this.now()).toISOString(), lastError: null })
    } catch (e) {
      if (e?.authExpired) this.setStatus({ authExpired: true, lastError: e.message })
      else this.setStatus({ lastError: e?.message ?? String(e) })
    } finally {
      this.setStatus({ running: false })
      if (this.started) await this.scheduleRetry()
    }
  }

  /** Wakes up when the earliest backed-off op or upload is due, instead of waiting for the next 60 s tick. */
  async scheduleRetry() {
    clearTimeout(this.retryTimer)
    this.retryTimer = null
    const t = this.now()
    const ops = await this.db.outbox.where('state').equals(OP_STATE.PENDING).toArray()
    const files = await this.db.evidence.where('uploadState').equals('pending').toArray()
    const due = [...ops, ...files].map((r) => r.nextAttemptAt ?? 0).filter((at) => at > t)
    if (!due.length || this.status.authExpired) return
    const wait = Math.min(...due) - t
    if (wait < INTERVAL_MS) this.retryTimer = setTimeout(() => this.flush(), wait + 50)
  }

  /** Pushes batches until nothing is due; a transport failure backs the batch off and ends the cycle (throws). */
  async pushAll({ maxRounds = 20 } = {}) {
    for (let round = 0; round < maxRounds; round++) {
      const batch = await nextBatch(this.db, { now: this.now })
      if (!batch.length) return
      await markSending(this.db, batch, { now: this.now })
      let res
      try {
        res = await this.api.post('/api/v1/sync/push', { device_id: this.deviceId, operations: batch.map(toWire) })
      } catch (e) {
        if (e?.authExpired) {
          await recordAuthFailure(this.db, batch, { now: this.now })
        } else if (e?.transient === false && e.status >= 400 && e.status < 500) {
          // The batch itself was refused (malformed?): report per op so the user sees it and can retry.
          await recordPushResults(this.db, batch, batch.map((op) => ({ op_id: op.opId, status: 'rejected', code: e.status, message: e.message })), {
            inspectorId: this.inspectorId,
            now: this.now,
          })
          continue
        } else {
          await recordTransportFailure(this.db, batch, e?.message ?? '网络不可用', { now: this.now, random: this.random })
        }
        throw e
      }
      await recordPushResults(this.db, batch, res?.results ?? [], { inspectorId: this.inspectorId, now: this.now, random: this.random })
    }
  }

  /** Uploads files whose evidence record the server already has, one at a time; returns how many finished. */
  async uploadAll() {
    const t = this.now()
    const candidates = await this.db.evidence
      .where('uploadState')
      .equals('pending')
      .filter((e) => !e.nextAttemptAt || e.nextAttemptAt <= t)
      .toArray()
    let done = 0
    for (const rec of candidates) {
      const op = await this.db.outbox.where('opId').equals(rec.opId).first()
      // The server must know the evidence record (and its declared hash) before bytes arrive.
      if (op && op.state !== OP_STATE.SYNCED) continue
      const state = await this.uploader.upload(rec)
      if (state === 'uploaded' || state === 'received') done += 1
      if (state === 'pending') break
    }
    return done
  }

  /** Ends every backoff now: the network is back or the app just started. */
  async makeDue() {
    await makeAllDue(this.db)
    await this.db.evidence.where('uploadState').equals('pending').modify({ nextAttemptAt: 0 })
  }

  /** Wires the triggers. Returns after the start-up flush has been kicked off. */
  async start({ window: win = globalThis.window, document: doc = globalThis.document, navigator: nav = globalThis.navigator } = {}) {
    this.started = true
    await resetInterrupted(this.db)
    await this.db.evidence.where('uploadState').equals('uploading').modify({ uploadState: 'pending' })
    // App start (or sign-in) is a fresh chance: nothing waits out a backoff earned while offline.
    await this.makeDue()
    this.setStatus({ online: nav?.onLine ?? true })
    if (win) {
      const onOnline = async () => {
        this.setStatus({ online: true })
        await this.makeDue()
        this.flush()
      }
      const onOffline = () => this.setStatus({ online: false })
      win.addEventListener('online', onOnline)
      win.addEventListener('offline', onOffline)
      this.cleanup.push(() => win.removeEventListener('online', onOnline), () => win.removeEventListener('offline', onOffline))
      const timer = win.setInterval(() => {
        if (!doc || doc.visibilityState === 'visible') this.flush()
      }, INTERVAL_MS)
      this.cleanup.push(() => win.clearInterval(timer))
    }
    if (doc) {
      const onVisible = () => {
        if (doc.visibilityState === 'visible') this.flush()
      }
      doc.addEventListener('visibilitychange', onVisible)
      this.cleanup.push(() => doc.removeEventListener('visibilitychange', onVisible))
    }
    if (nav?.serviceWorker) {
      const onMessage = (ev) => {
        if (ev.data?.type === FLUSH_MESSAGE) this.flush()
      }
      nav.serviceWorker.addEventListener('message', onMessage)
      this.cleanup.push(() => nav.serviceWorker.removeEventListener('message', onMessage))
    }
    this.flush()
  }

  /** Asks the service worker to wake us when connectivity returns (Chromium only; iOS relies on start/online/interval). */
  async requestBackgroundSync(nav = globalThis.navigator) {
    try {
      const reg = await nav?.serviceWorker?.getRegistration?.()
      if (reg && 'sync' in reg) await reg.sync.register(SYNC_TAG)
    } catch {
      // Permission or support missing: the page-side triggers still cover it.
    }
  }

  stop() {
    this.started = false
    clearTimeout(this.retryTimer)
    for (const fn of this.cleanup.splice(0)) fn()
    this.uploader?.abort?.()
  }
}
