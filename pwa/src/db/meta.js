/** The small `shuangsui-meta` database: which user signed in last, known users on this device, the device id. */
import Dexie from 'dexie'
import { META_DB_NAME } from './schema.js'

export class MetaDb extends Dexie {
  constructor() {
    super(META_DB_NAME)
    this.version(1).stores({ kv: 'key', users: 'id, lastLoginAt' })
  }
}

let meta = null
export function metaDb() {
  meta ??= new MetaDb()
  return meta
}

export async function getDeviceId(db = metaDb()) {
  const row = await db.kv.get('deviceId')
  if (row) return row.value
  const id = crypto.randomUUID()
  await db.kv.put({ key: 'deviceId', value: id })
  return id
}

export async function getLastUser(db = metaDb()) {
  const row = await db.kv.get('lastUserId')
  if (!row?.value) return null
  return (await db.users.get(row.value)) ?? null
}

export async function rememberUser(user, db = metaDb()) {
  const entry = {
    id: user.id,
    username: user.username,
    display_name: user.display_name,
    inspector_id: user.inspector_id ?? null,
    roles: user.roles ?? [],
    department_id: user.department_id ?? null,
    lastLoginAt: new Date().toISOString(),
  }
  await db.transaction('rw', db.kv, db.users, async () => {
    await db.users.put(entry)
    await db.kv.put({ key: 'lastUserId', value: user.id })
  })
  return entry
}

export async function forgetLastUser(db = metaDb()) {
  await db.kv.delete('lastUserId')
}

// Only the username is offered on the login screen after sign-out, never anything from the user's data.
export async function lastUsername(db = metaDb()) {
  const users = await db.users.orderBy('lastLoginAt').reverse().limit(1).toArray()
  return users[0]?.username ?? ''
}
