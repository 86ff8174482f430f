// Vitest setup: every test file gets an in-memory IndexedDB (fake-indexeddb).
import 'fake-indexeddb/auto'
