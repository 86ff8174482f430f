/** Opens the per-user Dexie database `shuangsui-<userId>` so two people sharing a phone never see each other's data. */
import Dexie from 'dexie'
import { USER_DB_VERSIONS, userDbName } from './schema.js'

export class UserDb extends Dexie {
  constructor(userId, { upTo } = {}) {
    super(userDbName(userId))
    this.userId = userId
    for (const v of USER_DB_VERSIONS) {
      if (upTo && v.version > upTo) break
      const declared = this.version(v.version).stores(v.stores)
      if (v.upgrade) declared.upgrade(v.upgrade)
    }
  }

  async getKv(key, fallback = undefined) {
    const row = await this.kv.get(key)
    return row ? row.value : fallback
  }

  setKv(key, value) {
    return this.kv.put({ key, value })
  }

  deleteKv(key) {
    return this.kv.delete(key)
  }
}

const open = new Map()

export function openUserDb(userId) {
  if (!userId) throw new Error('openUserDb needs a user id')
  let db = open.get(userId)
  if (!db) {
    db = new UserDb(userId)
    open.set(userId, db)
  }
  return db
}

export function closeUserDb(userId) {
  const db = open.get(userId)
  if (db) {
    db.close()
    open.delete(userId)
  }
}
