/**
 * Files the view service serves from dist/ (the browser client, the dashboard): read once
 * at startup into memory, each with a strong ETag, so a request costs no disk access and a
 * revalidation answers 304 with no body.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** One file as served: its bytes, content type and ETag. */
export interface Asset { readonly body: Buffer; readonly type: string; readonly etag: string }

/** URL path → the file (in one directory) and its content type. */
export type AssetFiles = Readonly<Record<string, { readonly file: string; readonly type: string }>>;

/** Read every file of `files` from `dir` once. Missing files are simply absent. */
export function readAssets(dir: string, files: AssetFiles): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [urlPath, { file, type }] of Object.entries(files)) {
    let body: Buffer;
    try {
      body = fs.readFileSync(path.join(dir, file));
    } catch {
      continue;
    }
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    assets.set(urlPath, { body, type, etag });
  }
  return assets;
}

/**
 * dist/<name>/ seen from this file: dist/server/viewservice/ in the build, and
 * server/viewservice/ when run from source with ts-node. `probe` is a file that is there
 * once built.
 */
export function distDir(name: string, probe: string): string {
  const fromDist = path.resolve(__dirname, '..', '..', name);
  const fromSource = path.resolve(__dirname, '..', '..', 'dist', name);
  return fs.existsSync(path.join(fromDist, probe)) ? fromDist : fromSource;
}

/** 405 for anything but GET and HEAD; true if it answered. */
export function refuseMethod(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return false;
  res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
  res.end('method not allowed\n');
  return true;
}

/** 200 with the asset (no body for HEAD), or 304 when the request already has this version. */
export function sendAsset(req: IncomingMessage, res: ServerResponse, asset: Asset, headers: Record<string, string>): void {
  const all = { ...headers, 'content-type': asset.type, etag: asset.etag };
  if (etagMatches(req.headers['if-none-match'], asset.etag)) {
    res.writeHead(304, all);
    res.end();
    return;
  }
  res.writeHead(200, { ...all, 'content-length': String(asset.body.length) });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}

/** If-None-Match: `*`, or a comma-separated list of (possibly weak) tags. */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}
