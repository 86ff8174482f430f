/** Build for the inspector PWA, served by Flask under /app/ with the API on the same origin. */
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { VantResolver } from '@vant/auto-import-resolver'
import { VitePWA } from 'vite-plugin-pwa'

const THEME = '#0b57d0'
const FONT_DATA_URL = /url\(data:font\/woff2;charset=utf-8;base64,([A-Za-z0-9+/=]+)\)/g

/**
 * Vant embeds its icon font (~34 kB of base64) in the CSS every screen loads before its first paint. Move it to
 * its own content-hashed file: the blocking CSS shrinks by two thirds, the font is fetched in parallel and cached
 * (and precached by the service worker) on its own.
 */
function externalIconFont() {
  return {
    name: 'shuangsui-external-icon-font',
    apply: 'build',
    generateBundle(_options, bundle) {
      for (const asset of Object.values(bundle)) {
        if (asset.type !== 'asset' || !asset.fileName.endsWith('.css')) continue
        const css = String(asset.source)
        if (!css.includes('data:font/woff2')) continue
        asset.source = css.replace(FONT_DATA_URL, (_m, b64) => {
          const ref = this.emitFile({ type: 'asset', name: 'vant-icon.woff2', source: Buffer.from(b64, 'base64') })
          return `url(./${this.getFileName(ref).split('/').pop()})`
        })
      }
    },
  }
}

export default defineConfig({
  base: '/app/',
  plugins: [
    vue(),
    // Vant components are imported per use, with their CSS, to keep the shell small.
    Components({ resolvers: [VantResolver()], dts: false }),
    externalIconFont(),
    VitePWA({
      strategies: 'injectManifest',
      srcDir: 'src',
      filename: 'sw.js',
      registerType: 'prompt',
      injectRegister: false,
      includeAssets: ['icons/favicon-32.png', 'icons/apple-touch-icon-180.png'],
      manifest: {
        id: '/app/',
        name: '双随机检查',
        short_name: '双随机检查',
        description: '双随机、一公开 现场检查（离线可用）',
        lang: 'zh-CN',
        dir: 'ltr',
        start_url: '/app/',
        scope: '/app/',
        display: 'standalone',
        orientation: 'portrait',
        theme_color: THEME,
        background_color: '#ffffff',
        categories: ['government', 'productivity'],
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
          { src: 'icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      injectManifest: {
        globPatterns: ['**/*.{js,css,html,png,svg,webmanifest,wasm,woff2}'],
        // hash-wasm is lazy but must still be offline: big videos are hashed in the field.
        maximumFileSizeToCacheInBytes: 4 * 1024 * 1024,
      },
      devOptions: { enabled: false },
    }),
  ],
  server: {
    proxy: { '/api': { target: 'http://127.0.0.1:5000', changeOrigin: false } },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    // No <link rel="modulepreload"> for the start-up chunks: on one bar of signal they would share the link with
    // the render-blocking CSS and hold back the first paint (the HTML splash). The entry's imports are requested
    // as soon as it arrives, one round trip later; every later start comes from the service worker's cache.
    modulePreload: false,
    rolldownOptions: {
      output: {
        // Stable, readable names for the long-lived vendor code so a deploy of app code keeps them cached.
        advancedChunks: {
          groups: [
            { name: 'vendor-vue', test: /node_modules[\\/](@vue|vue|vue-router)[\\/]/ },
            { name: 'vendor-data', test: /node_modules[\\/]dexie[\\/]/ },
            // Loaded on the first upload only (src/sync/uploader.js), so never part of the start-up shell.
            { name: 'vendor-tus', test: /node_modules[\\/](tus-js-client|js-base64|url-parse|querystringify|requires-port|combine-errors|custom-error-instance|lodash\.throttle|proper-lockfile|is-stream)[\\/]/ },
          ],
        },
      },
    },
  },
  test: {
    environment: 'node',
    include: ['tests/**/*.test.js'],
    setupFiles: ['tests/setup.js'],
    restoreMocks: true,
  },
})
