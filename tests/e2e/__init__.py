"""End-to-end tests: the inspector PWA in headless Chromium against the real API and object store."""
