#!/usr/bin/env node
// SPDX-License-Identifier: GPL-3.0-or-later
// Writes <file>.gz (zlib level 9) and <file>.br (brotli quality 11) next to every .html, .js, .css and .svg file in
// the build directory, so the device can send the precompressed form the browser accepts without compressing on
// the fly. Prints the totals and fails when the brotli total exceeds the UI's budget.
//   node scripts/compress.mjs [DIR]      (DIR: argument, else $WEBUI_OUT_DIR, else dist)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const BUDGET_BYTES = 150 * 1024;
const COMPRESSED_TYPES = new Set(['.html', '.js', '.css', '.svg']);

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile() && COMPRESSED_TYPES.has(extname(entry.name))) yield path;
  }
}

// Compresses every file of DIR; throws when the brotli total is over budget.
export function compressDir(dir) {
  let count = 0,
    raw = 0,
    gzip = 0,
    brotli = 0;
  for (const path of files(dir)) {
    const data = readFileSync(path);
    const gz = gzipSync(data, { level: 9 });
    const br = brotliCompressSync(data, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      },
    });
    writeFileSync(`${path}.gz`, gz);
    writeFileSync(`${path}.br`, br);
    count += 1;
    raw += data.length;
    gzip += gz.length;
    brotli += br.length;
  }
  console.log(`webui: ${count} files, raw ${raw} bytes, gzip ${gzip} bytes, brotli ${brotli} bytes`);
  if (count === 0) throw new Error(`webui: no .html/.js/.css/.svg file under ${dir}`);
  if (brotli > BUDGET_BYTES) {
    throw new Error(`webui: brotli total ${brotli} bytes is over the budget of ${BUDGET_BYTES} bytes`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    compressDir(resolve(process.argv[2] ?? process.env.WEBUI_OUT_DIR ?? 'dist'));
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
