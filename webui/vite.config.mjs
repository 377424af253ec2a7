// SPDX-License-Identifier: GPL-3.0-or-later
// Builds the web UI into static files that freeholdd serves itself under a strict Content-Security-Policy:
// no inline script or style, nothing from another origin. Every build ends by writing the .gz and .br twins of
// each file and checking the size budget (scripts/compress.mjs).
import { resolve } from 'node:path';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';
import { compressDir } from './scripts/compress.mjs';

// `npm run dev` talks to a real device: FREEHOLD_DEVICE=https://127.0.0.1:8443 (the demo's default).
const device = process.env.FREEHOLD_DEVICE ?? 'https://127.0.0.1:8443';

function compressAfterBuild() {
  let outDir = 'dist';
  return {
    name: 'freehold-compress',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    closeBundle() {
      compressDir(outDir);
    },
  };
}

export default defineConfig({
  plugins: [preact({ prerender: { enabled: false } }), compressAfterBuild()],
  build: {
    // The polyfill would be an inline script, which the CSP forbids; every supported browser has modulepreload.
    modulePreload: { polyfill: false },
    // Inlined assets would become data: URLs in CSS and scripts; keep them as files.
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      '/api': {
        target: device,
        secure: false,
        ws: true,
        changeOrigin: true,
        // The device refuses a change whose Origin is not its own host (CSRF); the dev server's origin is not.
        configure(proxy) {
          proxy.on('proxyReq', (req) => req.removeHeader('origin'));
          proxy.on('proxyReqWs', (req) => req.removeHeader('origin'));
        },
      },
    },
  },
});
