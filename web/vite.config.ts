// The console's production build: hashed files under /console/app/, no inline script or style, so
// the strict Content-Security-Policy that every Sealpost page carries needs no exception.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/console/app/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The preload polyfill is an inline script; every browser the console supports has modulepreload.
    modulePreload: { polyfill: false },
    // Small assets as data: URLs would need img-src data: for fonts too; keep every asset a file.
    assetsInlineLimit: 0,
    target: 'es2022',
    sourcemap: false,
  },
});
