import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const dist = (file: string): string => fileURLToPath(new URL(`../../dist/browser/${file}`, import.meta.url));

/**
 * Inside this repository the example uses the package's own builds (`npm run build` makes
 * them): the same ESM files `understudy/client` and `understudy/react` resolve to when the
 * package is installed. In your own app, drop the aliases and `npm install understudy`.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  resolve: {
    alias: {
      'understudy/client': dist('understudy.js'),
      'understudy/react': dist('react.js'),
    },
  },
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 5173 },
});
