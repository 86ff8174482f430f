/** tus-js-client URL storage inside the per-user database, so an upload resumes after the app is killed, and only for its owner. */

export class DexieUrlStorage {
  constructor(db) {
    this.db = db
  }

  async findAllUploads() {
    return (await this.db.tusUploads.toArray()).map(toPrevious)
  }

  async findUploadsByFingerprint(fingerprint) {
    return (await this.db.tusUploads.where('fingerprint').equals(fingerprint).toArray()).map(toPrevious)
  }

  async removeUpload(urlStorageKey) {
    await this.db.tusUploads.delete(Number(urlStorageKey))
  }

  async addUpload(fingerprint, upload) {
    const id = await this.db.tusUploads.add({ fingerprint, upload })
    return String(id)
  }
}

function toPrevious(row) {
  return { ...row.upload, urlStorageKey: String(row.id) }
}

export const evidenceFingerprint = (evidenceId) => `shuangsui-evidence:${evidenceId}`
